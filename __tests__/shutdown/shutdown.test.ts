import diagnostics from 'node:diagnostics_channel';
import { Agent, get, type IncomingMessage } from 'node:http';
import { createBatcher } from '../../src/batch';
import { CHANNELS, type ShutdownMessage } from '../../src/core/instrument';
import { shutdown } from '../../src/shutdown';
import { mount } from '../helpers/harness';

function fetchText(url: string, agent?: Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent }, (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

test('in-flight responses finish, new connections are refused, then batchers flush what the responses recorded', async () => {
  const order: string[] = [];
  const records: string[] = [];
  const audit = createBatcher<string>({
    maxSize: 100,
    maxWait: '1h',
    handler: (_k, items) => void records.push(...items),
  });
  let release!: () => void;
  const released = new Promise<void>((r) => {
    release = r;
  });
  let started!: () => void;
  const slowStarted = new Promise<void>((r) => {
    started = r;
  });
  const app = await mount('express5', {
    handler: (req, res) => {
      res.on('finish', () => void audit.add(`logged ${req.url}`));
      res.write('part one,');
      started();
      void released.then(() => res.end(' part two'));
    },
  });
  const inFlight = fetchText(`${app.url}/slow`);
  await slowStarted;
  const channel = {
    close: async () => {
      order.push('channel closed');
    },
  };
  const done = shutdown(app.server, { channels: [channel], batchers: [audit], timeout: '5s' }).then(
    (r) => {
      order.push('shutdown resolved');
      return r;
    },
  );
  await new Promise((r) => setTimeout(r, 20));
  await expect(fetchText(`${app.url}/new`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  expect(records).toEqual([]);
  release();
  expect(await inFlight).toEqual({ status: 200, body: 'part one, part two' });
  const result = await done;
  expect(result.forced).toBe(false);
  expect(records).toEqual(['logged /slow']);
  expect(order).toEqual(['channel closed', 'shutdown resolved']);
  expect(audit.closed).toBe(true);
});

test('idle keep-alive connections do not hold the shutdown', async () => {
  const app = await mount('http', { handler: (_req, res) => res.end('ok') });
  const agent = new Agent({ keepAlive: true });
  expect((await fetchText(app.url, agent)).body).toBe('ok');
  const result = await shutdown(app.server, { timeout: '5s' });
  expect(result.forced).toBe(false);
  expect(result.durationMs).toBeLessThan(4000);
  agent.destroy();
});

test('a response that never ends is cut at the timeout, and batchers still flush', async () => {
  const records: number[] = [];
  const audit = createBatcher<number>({
    maxWait: '1h',
    handler: (_k, items) => void records.push(...items),
  });
  void audit.add(1);
  let started!: () => void;
  const streaming = new Promise<void>((r) => {
    started = r;
  });
  const app = await mount('connect', {
    handler: (_req, res) => {
      res.write('forever');
      started();
    },
  });
  const client = fetchText(app.url).catch((error: Error) => error);
  await streaming;
  const result = await shutdown(app.server, { timeout: 100, batchers: [audit] });
  expect(result.forced).toBe(true);
  expect(String(await client)).toMatch(/aborted|socket hang up|ECONNRESET/);
  expect(records).toEqual([1]);
});

test('shutdown is announced on streamguard:core:shutdown with its server', async () => {
  const seen: unknown[] = [];
  const listener = (m: unknown) => seen.push((m as ShutdownMessage).server);
  diagnostics.subscribe(CHANNELS.shutdown, listener);
  const app = await mount('http', { handler: (_req, res) => res.end() });
  await shutdown(app.server, { timeout: 1000 });
  diagnostics.unsubscribe(CHANNELS.shutdown, listener);
  expect(seen).toEqual([app.server]);
});

test('a failing channel or batcher is logged, not thrown', async () => {
  const logged: string[] = [];
  const app = await mount('http', { handler: (_req, res) => res.end() });
  const result = await shutdown(app.server, {
    channels: [{ close: () => Promise.reject(new Error('redis down')) }],
    batchers: [{ close: () => Promise.reject(new Error('disk full')) }],
    logger: { warn: (m) => logged.push(m) },
  });
  expect(result.forced).toBe(false);
  expect(logged.sort()).toEqual(['a batcher failed to flush', 'a channel failed to close']);
});

test('bad options throw a TypeError naming them', async () => {
  const app = await mount('http', {});
  await expect(shutdown(app.server, { channels: [{}] as never })).rejects.toThrow(
    'option channels must be an array of objects with a close() method',
  );
  await expect(shutdown(app.server, { timeout: 'later' })).rejects.toThrow(
    /option timeout must be a duration/,
  );
  await expect(shutdown(app.server, { timout: 1 } as never)).rejects.toThrow(
    /unknown option timout/,
  );
});

test('open event streams of the server end gracefully with reason shutdown, and the shutdown is not forced', async () => {
  const { sse } = await import('../../src/sse');
  const reasons: unknown[] = [];
  let opened!: () => void;
  const open = new Promise<void>((r) => {
    opened = r;
  });
  const app = await mount('express5', {
    use: [sse({ heartbeat: false })],
    handler: async (_req, res) => {
      const stream = (res as unknown as { locals: { sse: import('../../src/sse').SseStream } })
        .locals.sse;
      stream.signal.addEventListener('abort', () =>
        reasons.push((stream.signal.reason as { reason: string }).reason),
      );
      await stream.send({ data: 'hello' });
      opened();
    },
  });
  const client = fetchText(app.url);
  await open;
  const result = await shutdown(app.server, { timeout: '5s' });
  expect(result.forced).toBe(false);
  expect(await client).toEqual({ status: 200, body: 'data: hello\n\n' });
  expect(reasons).toEqual(['shutdown']);
});

test('a hung batcher flush does not hang the shutdown: it resolves forced after flushTimeout, naming it', async () => {
  const logged: string[] = [];
  const records: number[] = [];
  const hung = createBatcher<number>({ maxWait: '1h', handler: () => new Promise(() => {}) });
  const fine = createBatcher<number>({
    maxWait: '1h',
    handler: (_k, items) => void records.push(...items),
  });
  void hung.add(1);
  void fine.add(2);
  const app = await mount('http', { handler: (_req, res) => res.end() });
  const result = await shutdown(app.server, {
    batchers: [hung, fine],
    timeout: '5s',
    flushTimeout: 100,
    logger: { warn: (m) => logged.push(m) },
  });
  expect(result).toMatchObject({ forced: true, unfinished: ['batchers[0]'] });
  expect(result.durationMs).toBeLessThan(4000);
  expect(records).toEqual([2]);
  expect(logged).toEqual(['shutdown: batchers[0] did not close within flushTimeout (100 ms)']);
}, 10_000);

test('a hung channel close is bounded by timeout, and the batchers still flush', async () => {
  const logged: string[] = [];
  const records: number[] = [];
  const audit = createBatcher<number>({
    maxWait: '1h',
    handler: (_k, items) => void records.push(...items),
  });
  void audit.add(1);
  const app = await mount('http', { handler: (_req, res) => res.end() });
  const result = await shutdown(app.server, {
    channels: [{ close: () => new Promise(() => {}) }, { close: async () => undefined }],
    batchers: [audit],
    timeout: 100,
    logger: { warn: (m) => logged.push(m) },
  });
  expect(result).toMatchObject({ forced: true, unfinished: ['channels[0]'] });
  expect(records).toEqual([1]);
  expect(logged).toEqual(['shutdown: channels[0] did not close within timeout (100 ms)']);
}, 10_000);

test('records of responses closed by force reach the batcher: tee onFinish runs before the batchers close', async () => {
  const { responseTee } = await import('../../src/tee');
  const records: { url: string; outcome: string; body: string }[] = [];
  const audit = createBatcher<{ url: string; outcome: string; body: string }>({
    maxWait: '1h',
    handler: (_k, items) => void records.push(...items),
  });
  const refused: unknown[] = [];
  let started!: () => void;
  const streaming = new Promise<void>((r) => {
    started = r;
  });
  const app = await mount('express5', {
    use: [
      responseTee({
        onFinish(record) {
          audit
            .add({ url: record.url, outcome: record.outcome, body: record.body.toString() })
            .catch((error: unknown) => refused.push(error));
        },
      }),
    ],
    handler: (_req, res) => {
      res.write('never finished');
      started();
    },
  });
  const client = fetchText(`${app.url}/slow`).catch((error: Error) => error);
  await streaming;
  const result = await shutdown(app.server, { batchers: [audit], timeout: 100 });
  expect(refused).toEqual([]);
  expect(records).toEqual([{ url: '/slow', outcome: 'aborted', body: 'never finished' }]);
  expect(result).toMatchObject({ forced: true, unfinished: ['connections'] });
  expect(String(await client)).toMatch(/aborted|socket hang up|ECONNRESET/);
});

test('finish work a middleware holds on the server is waited for (bounded) before the batchers close', async () => {
  const { holdFinishWork, pendingFinishWork } = await import('../../src/core/finish-work');
  const records: string[] = [];
  const audit = createBatcher<string>({
    maxWait: '1h',
    handler: (_k, items) => void records.push(...items),
  });
  const app = await mount('http', { handler: (_req, res) => res.end() });
  const done = holdFinishWork(app.server);
  const late = holdFinishWork(app.server);
  expect(pendingFinishWork(app.server)).toBe(2);
  let finishWorkDone!: () => void;
  const slowWork = new Promise<void>((r) => {
    finishWorkDone = r;
  });
  void slowWork.then(() => {
    void audit.add('written late');
    done();
  });
  const logged: string[] = [];
  const shuttingDown = shutdown(app.server, {
    batchers: [audit],
    flushTimeout: 300,
    logger: { warn: (m) => logged.push(m) },
  });
  // The first piece finishes after shutdown began; the second never does (bounded by flushTimeout).
  setImmediate(finishWorkDone);
  const result = await shuttingDown;
  expect(records).toEqual(['written late']);
  expect(result).toMatchObject({ forced: true, unfinished: ['finish work'] });
  expect(logged).toEqual(['shutdown: finish work did not settle within flushTimeout (300 ms)']);
  late();
  late(); // idempotent
  expect(pendingFinishWork(app.server)).toBe(0);
});

test('bad flushTimeout throws a TypeError naming it', async () => {
  const app = await mount('http', {});
  await expect(shutdown(app.server, { flushTimeout: 'soon' })).rejects.toThrow(
    /option flushTimeout must be a duration/,
  );
});

test('a responseTee record whose async onFinish is still writing when shutdown begins reaches the batcher before it closes', async () => {
  const { responseTee } = await import('../../src/tee');
  const records: string[] = [];
  const audit = createBatcher<string>({
    maxWait: '1h',
    handler: (_k, items) => void records.push(...items),
  });
  let began!: () => void;
  const onFinishBegan = new Promise<void>((r) => {
    began = r;
  });
  const tee = responseTee({
    // A slow database write before the record goes to the batcher.
    onFinish: async (record) => {
      began();
      await new Promise((r) => setTimeout(r, 150));
      // Not awaited: the batch settles only when the batcher flushes, which shutdown does last.
      void audit.add(`${record.status} ${record.url}`);
    },
  });
  const app = await mount('express5', { use: [tee], handler: (_req, res) => res.end('ok') });
  expect((await fetchText(`${app.url}/audited`)).status).toBe(200);
  await onFinishBegan;
  const result = await shutdown(app.server, { batchers: [audit], flushTimeout: 2000 });
  expect(records).toEqual(['200 /audited']);
  expect(result).toMatchObject({ forced: false, unfinished: [] });
  expect(tee.stats().pending).toBe(0);
});
