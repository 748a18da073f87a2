import diagnostics from 'node:diagnostics_channel';
import { createBatcher } from '../../src/batch';
import { type BatchFlushMessage, CHANNELS } from '../../src/core/instrument';

interface Item {
  key: string;
  n: number;
}

/** A promise with its resolve, to hold a handler open until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

const quiet = { warn: () => undefined };

function recordFlushes(): { flushes: BatchFlushMessage[]; stop: () => void } {
  const flushes: BatchFlushMessage[] = [];
  const listener = (message: unknown) => flushes.push(message as BatchFlushMessage);
  diagnostics.subscribe(CHANNELS.batchFlush, listener);
  return { flushes, stop: () => diagnostics.unsubscribe(CHANNELS.batchFlush, listener) };
}

test('a batch is cut at maxSize, items in order, and add() settles with it', async () => {
  const batches: number[][] = [];
  const { flushes, stop } = recordFlushes();
  const b = createBatcher<Item>({
    maxSize: 3,
    maxWait: '1h',
    handler: (_k, items) => void batches.push(items.map((i) => i.n)),
  });
  await Promise.all([1, 2, 3, 4, 5, 6].map((n) => b.add({ key: 'a', n })));
  stop();
  expect(batches).toEqual([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  expect(flushes.map((f) => [f.reason, f.size, f.ok])).toEqual([
    ['size', 3, true],
    ['size', 3, true],
  ]);
  expect(b.stats()).toMatchObject({ pending: 0, keys: 0, flushed: 2, failed: 0 });
});

test('a partial batch is cut maxWait after its first item', async () => {
  const { flushes, stop } = recordFlushes();
  const seen: number[][] = [];
  const b = createBatcher<Item>({
    maxSize: 100,
    maxWait: 20,
    handler: (_k, items) => void seen.push(items.map((i) => i.n)),
  });
  const started = Date.now();
  await Promise.all([b.add({ key: 'a', n: 1 }), b.add({ key: 'a', n: 2 })]);
  stop();
  expect(Date.now() - started).toBeGreaterThanOrEqual(15);
  expect(seen).toEqual([[1, 2]]);
  expect(flushes.map((f) => f.reason)).toEqual(['time']);
});

test('batches of one key run one at a time, in order', async () => {
  const first = gate();
  const log: string[] = [];
  const b = createBatcher<Item>({
    key: (i) => i.key,
    maxSize: 1,
    handler: async (_k, items) => {
      log.push(`start ${items[0]!.n}`);
      if (items[0]!.n === 1) await first.promise;
      log.push(`end ${items[0]!.n}`);
    },
  });
  const done = Promise.all([1, 2, 3].map((n) => b.add({ key: 'a', n })));
  await new Promise((r) => setImmediate(r));
  expect(log).toEqual(['start 1']);
  first.open();
  await done;
  expect(log).toEqual(['start 1', 'end 1', 'start 2', 'end 2', 'start 3', 'end 3']);
});

test('keys are isolated: a stuck handler for one key does not delay another', async () => {
  const stuck = gate();
  const b = createBatcher<Item>({
    key: (i) => i.key,
    maxSize: 1,
    handler: async (key) => {
      if (key === 'slow') await stuck.promise;
    },
  });
  const slow = b.add({ key: 'slow', n: 1 });
  await b.add({ key: 'fast', n: 2 });
  await b.add({ key: 'fast', n: 3 });
  expect(b.stats()).toMatchObject({ pending: 1, running: 1, keys: 1 });
  stuck.open();
  await slow;
  expect(b.stats()).toMatchObject({ pending: 0, running: 0, keys: 0 });
});

test('a failing handler rejects only its batch, is logged, and an unawaited add() cannot crash the process', async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const logged: string[] = [];
  const boom = new Error('insert failed');
  const b = createBatcher<Item>({
    key: (i) => i.key,
    maxSize: 2,
    logger: { warn: (m) => logged.push(m) },
    handler: (key) => {
      if (key === 'bad') throw boom;
    },
  });
  void b.add({ key: 'bad', n: 0 }); // nobody awaits this one
  const bad = b.add({ key: 'bad', n: 1 });
  const good = Promise.all([b.add({ key: 'good', n: 2 }), b.add({ key: 'good', n: 3 })]);
  await expect(bad).rejects.toBe(boom);
  await expect(good).resolves.toEqual([undefined, undefined]);
  await new Promise((r) => setImmediate(r));
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
  expect(logged).toEqual(['batch handler failed']);
  expect(b.stats()).toMatchObject({ failed: 1, flushed: 1, pending: 0 });
});

test("maxPending with onFull 'reject' refuses with 503 batch.full", async () => {
  const hold = gate();
  const b = createBatcher<Item>({
    maxSize: 1,
    maxPending: 2,
    onFull: 'reject',
    handler: () => hold.promise,
  });
  const accepted = [b.add({ key: 'a', n: 1 }), b.add({ key: 'a', n: 2 })];
  await expect(b.add({ key: 'a', n: 3 })).rejects.toMatchObject({
    status: 503,
    type: 'batch.full',
    limit: 2,
  });
  hold.open();
  await Promise.all(accepted);
});

test("maxPending with onFull 'wait' holds adds until there is room, first come first served", async () => {
  const hold = gate();
  const handled: number[] = [];
  const b = createBatcher<Item>({
    maxSize: 1,
    maxPending: 1,
    maxWaiting: 3,
    handler: async (_k, items) => {
      if (items[0]!.n === 1) await hold.promise;
      handled.push(items[0]!.n);
    },
  });
  const all = [1, 2, 3, 4].map((n) => b.add({ key: 'a', n }));
  await new Promise((r) => setImmediate(r));
  expect(b.stats()).toMatchObject({ pending: 1, waiting: 3 });
  hold.open();
  await Promise.all(all);
  expect(handled).toEqual([1, 2, 3, 4]);
});

test('close() flushes what is queued at once, refuses new adds and waiting adds', async () => {
  const { flushes, stop } = recordFlushes();
  const hold = gate();
  const handled: number[] = [];
  const b = createBatcher<Item>({
    maxSize: 10,
    maxWait: '1h',
    maxPending: 3,
    handler: async (_k, items) => {
      await hold.promise;
      handled.push(...items.map((i) => i.n));
    },
  });
  const queued = [1, 2, 3].map((n) => b.add({ key: 'a', n }));
  const waiting = b.add({ key: 'a', n: 4 });
  const closing = b.close();
  expect(b.close()).toBe(closing);
  await expect(waiting).rejects.toMatchObject({ status: 503, type: 'batch.closed' });
  await expect(b.add({ key: 'a', n: 5 })).rejects.toMatchObject({ type: 'batch.closed' });
  hold.open();
  await closing;
  await Promise.all(queued);
  stop();
  expect(handled).toEqual([1, 2, 3]);
  expect(flushes.map((f) => f.reason)).toEqual(['close']);
  expect(b.closed).toBe(true);
});

test('flush() cuts every key now and resolves when all is handled', async () => {
  const seen: string[] = [];
  const b = createBatcher<Item>({
    key: (i) => i.key,
    maxSize: 50,
    maxWait: '1h',
    handler: (k, items) => void seen.push(`${k}:${items.length}`),
  });
  for (let n = 0; n < 5; n++) void b.add({ key: n % 2 ? 'odd' : 'even', n });
  await b.flush();
  expect(seen.sort()).toEqual(['even:3', 'odd:2']);
  expect(b.stats().keys).toBe(0);
});

test('concurrency bounds batches running across keys', async () => {
  let now = 0;
  let peak = 0;
  const b = createBatcher<Item>({
    key: (i) => i.key,
    maxSize: 1,
    concurrency: 2,
    handler: async () => {
      peak = Math.max(peak, ++now);
      await new Promise((r) => setImmediate(r));
      now--;
    },
  });
  await Promise.all(Array.from({ length: 20 }, (_, n) => b.add({ key: `k${n % 7}`, n })));
  expect(peak).toBe(2);
});

test('10,000 keys come and go without leaving queues behind', async () => {
  const b = createBatcher<Item>({
    key: (i) => i.key,
    maxSize: 2,
    maxWait: 5,
    handler: () => undefined,
    logger: quiet,
  });
  await Promise.all(Array.from({ length: 10_000 }, (_, n) => b.add({ key: `k${n}`, n })));
  expect(b.stats()).toMatchObject({ keys: 0, pending: 0 });
});

test('bad options throw a TypeError naming them', () => {
  const handler = () => undefined;
  expect(() => createBatcher({} as never)).toThrow(
    'option handler must be a function, got undefined',
  );
  expect(() => createBatcher({ handler, maxSize: 0 })).toThrow(
    'option maxSize must be an integer >= 1, got 0',
  );
  expect(() => createBatcher({ handler, maxWait: 'soon' })).toThrow(
    /option maxWait must be a duration/,
  );
  expect(() => createBatcher({ handler, onFull: 'drop' as never })).toThrow(
    /option onFull must be one of 'wait', 'reject'/,
  );
  expect(() => createBatcher({ handler, maxBatch: 3 } as never)).toThrow(/unknown option maxBatch/);
});

test('a key() that does not return a string rejects that add only', async () => {
  const b = createBatcher<Item>({ key: () => 42 as unknown as string, handler: () => undefined });
  await expect(b.add({ key: 'a', n: 1 })).rejects.toThrow(
    'createBatcher key() must return a string, got number',
  );
  expect(b.stats().pending).toBe(0);
});

/** Whether a promise settles within one turn of the event loop, and how. */
async function stateOf(promise: Promise<unknown>): Promise<unknown> {
  return Promise.race([
    promise.then(
      () => 'resolved',
      (error: unknown) => error,
    ),
    new Promise((r) => setImmediate(r, 'pending')),
  ]);
}

test("with a stalled handler, 'wait' holds at most maxWaiting adds, then rejects with 503 batch.full", async () => {
  const hold = gate();
  const b = createBatcher<Item>({
    maxSize: 1,
    maxPending: 2,
    maxWaiting: 3,
    handler: () => hold.promise,
  });
  const accepted = [1, 2, 3, 4, 5].map((n) => b.add({ key: 'a', n }));
  expect(b.stats()).toMatchObject({ pending: 2, waiting: 3 });
  const refused = b.add({ key: 'a', n: 6 });
  expect(await stateOf(refused)).toMatchObject({
    status: 503,
    type: 'batch.full',
    limit: 3,
    message: 'the batcher holds 2 items and 3 adds waiting for room',
  });
  expect(b.stats()).toMatchObject({ pending: 2, waiting: 3 });
  hold.open();
  await Promise.all(accepted);
  expect(b.stats()).toMatchObject({ pending: 0, waiting: 0, flushed: 5 });
});

test('maxWaiting defaults to maxPending, so a stalled handler holds at most twice maxPending items', async () => {
  const hold = gate();
  const b = createBatcher<Item>({ maxSize: 1, maxPending: 4, handler: () => hold.promise });
  const results = Array.from({ length: 20 }, (_, n) => b.add({ key: 'a', n }));
  const states = await Promise.all(results.map(stateOf));
  expect(states.filter((s) => s === 'pending')).toHaveLength(8);
  expect(states.slice(8).every((s) => (s as { type?: string }).type === 'batch.full')).toBe(true);
  expect(b.stats()).toMatchObject({ pending: 4, waiting: 4 });
  hold.open();
  await Promise.all(results.slice(0, 8));
});

test('ready() waits for room without waiting for a batch, shares one promise, and rejects once closed', async () => {
  const first = gate();
  const second = gate();
  const handled: number[] = [];
  const b = createBatcher<Item>({
    maxSize: 1,
    maxPending: 2,
    handler: async (_k, items) => {
      await (items[0]!.n === 1 ? first.promise : second.promise);
      handled.push(items[0]!.n);
    },
  });
  await expect(b.ready()).resolves.toBeUndefined(); // room now: resolves at once
  const one = b.add({ key: 'a', n: 1 });
  const two = b.add({ key: 'a', n: 2 });
  const room = b.ready();
  expect(b.ready()).toBe(room);
  expect(await stateOf(room)).toBe('pending');
  first.open();
  await one;
  // Item 1 is handled, item 2's batch still runs: there is room, and ready() says so at once.
  expect(await stateOf(room)).toBe('resolved');
  expect(await stateOf(two)).toBe('pending');
  const three = b.add({ key: 'a', n: 3 });
  expect(b.stats()).toMatchObject({ pending: 2, waiting: 0 });
  const again = b.ready();
  const closing = b.close();
  await expect(again).rejects.toMatchObject({ status: 503, type: 'batch.closed' });
  await expect(b.ready()).rejects.toMatchObject({ type: 'batch.closed' });
  second.open();
  await closing;
  await Promise.all([two, three]);
  expect(handled).toEqual([1, 2, 3]);
});

test('ready() resolves only after the adds already waiting were let in', async () => {
  const hold = gate();
  const b = createBatcher<Item>({
    maxSize: 1,
    maxPending: 1,
    maxWaiting: 2,
    handler: () => hold.promise,
  });
  const adds = [1, 2, 3].map((n) => b.add({ key: 'a', n }));
  const room = b.ready();
  hold.open();
  await room;
  // The two waiting adds went in first (each taking the one slot), then there was room again.
  await Promise.all(adds);
  expect(b.stats()).toMatchObject({ pending: 0, waiting: 0, flushed: 3 });
});

test('100,000 waiting adds across keys and a concurrency bound are all handled, in order per key', async () => {
  const seen = new Map<string, number[]>();
  let running = 0;
  let peak = 0;
  const b = createBatcher<Item>({
    key: (i) => i.key,
    maxSize: 50,
    maxWait: 5,
    maxPending: 1000,
    maxWaiting: 100_000,
    concurrency: 3,
    handler: async (key, items) => {
      peak = Math.max(peak, ++running);
      await new Promise((r) => setImmediate(r));
      running--;
      const list = seen.get(key) ?? [];
      for (const item of items) list.push(item.n);
      seen.set(key, list);
    },
  });
  const total = 101_000;
  const adds: Promise<void>[] = [];
  for (let n = 0; n < total; n++) adds.push(b.add({ key: `k${n % 7}`, n }));
  expect(b.stats()).toMatchObject({ pending: 1000, waiting: 100_000 });
  await Promise.all(adds);
  expect(peak).toBe(3);
  let count = 0;
  for (const [key, list] of seen) {
    const k = Number(key.slice(1));
    expect(list).toEqual(Array.from({ length: list.length }, (_, i) => k + i * 7));
    count += list.length;
  }
  expect(count).toBe(total);
  expect(b.stats()).toMatchObject({ pending: 0, waiting: 0, keys: 0, running: 0 });
});

test('a process that adds items and returns hands them to the handler before it exits', async () => {
  const { spawnSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const child = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(__dirname, 'fixtures/exit-with-pending.ts')],
    { encoding: 'utf8', timeout: 20_000 },
  );
  expect(child.stderr).toBe('');
  expect(child.stdout).toBe('added 3\nhandled default 1,2,3\n');
  expect(child.status).toBe(0);
});

test('bad maxWaiting throws a TypeError naming it', () => {
  const handler = () => undefined;
  expect(() => createBatcher({ handler, maxWaiting: -1 })).toThrow(
    'option maxWaiting must be an integer >= 0, got -1',
  );
  expect(() => createBatcher({ handler, maxWaiting: Infinity })).toThrow(
    /option maxWaiting must be an integer >= 0/,
  );
});

test('a stalled handler and producers that never await hold bounded memory (measured in a child process)', async () => {
  const { join } = await import('node:path');
  const { runGcFixture } = await import('../helpers/gc-child');
  const report = runGcFixture<{
    heldBytes: number;
    pending: number;
    waiting: number;
    refused: number;
  }>(join(__dirname, 'fixtures/stalled-flood.ts'));
  // 10,000 pending + 10,000 waiting (maxWaiting defaults to maxPending); the rest refused.
  expect(report).toMatchObject({ pending: 10_000, waiting: 10_000, refused: 180_000 });
  // 20,000 items of 1 KiB held, plus the runtime: far below the 200 MiB of all 200,000 items.
  expect(report.heldBytes).toBeLessThan(80 * 2 ** 20);
}, 60_000);
