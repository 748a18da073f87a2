import Redis from 'ioredis';
import { createClient } from 'redis';
import { MemoryReplayLog } from '../../src/sse/memory-replay-log';
import { RedisStreamLog } from '../../src/sse/redis-stream-log';
import type { LoggedEvent, ReplayLog } from '../../src/sse/replay-log';
import { type RedisServer, startRedis } from '../helpers/redis';
import { nextEvents } from './helpers';

let redis: RedisServer;
const clients: { close(): Promise<unknown> }[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await redis.stop();
});

let keySeq = 0;

type Factory = (maxEvents: number) => Promise<ReplayLog>;

const factories: [string, Factory][] = [
  ['MemoryReplayLog', async (maxEvents) => new MemoryReplayLog({ maxEvents })],
  [
    'RedisStreamLog (ioredis)',
    async (maxEvents) => {
      const client = new Redis(redis.port, '127.0.0.1', { lazyConnect: false });
      clients.push({ close: () => client.quit() });
      return new RedisStreamLog({
        client,
        key: `log:${++keySeq}`,
        maxLength: maxEvents,
        block: 200,
      });
    },
  ],
  [
    'RedisStreamLog (node-redis)',
    async (maxEvents) => {
      const client = createClient({ url: redis.url });
      await client.connect();
      clients.push({ close: async () => client.destroy() });
      return new RedisStreamLog({
        client,
        key: `log:${++keySeq}`,
        maxLength: maxEvents,
        block: 200,
      });
    },
  ],
];

describe.each(factories)('%s', (_name, make) => {
  test('ids are monotonic; replay returns exactly the events after a cursor, in order', async () => {
    const log = await make(100);
    const appended: LoggedEvent[] = [];
    for (let i = 0; i < 10; i++)
      appended.push(
        await log.append({ event: i % 2 ? 'tick' : undefined, data: `line ${i}\nsecond` } as never),
      );
    for (let i = 1; i < appended.length; i++)
      expect(log.compare(appended[i - 1]!.id, appended[i]!.id)).toBeLessThan(0);
    const fromFourth = await log.after(appended[3]!.id, 100);
    expect(fromFourth.reset).toBe(false);
    expect(fromFourth.events).toEqual(appended.slice(4));
    expect((await log.after(appended[9]!.id, 100)).events).toEqual([]);
    expect((await log.after(appended[0]!.id, 3)).events).toEqual(appended.slice(1, 4));
    await log.close();
  });

  test('a cursor older than the log, unknown to it, or malformed is a reset', async () => {
    const log = await make(3);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push((await log.append({ data: String(i) })).id);
    expect(await log.after(ids[0]!, 100)).toEqual({ events: [], reset: true, last: ids[5] });
    const kept = await log.after(ids[2]!, 100);
    expect(kept.reset).toBe(false);
    expect(kept.events.map((e) => e.data)).toEqual(['3', '4', '5']);
    expect((await log.after('99999999999-0', 10)).reset).toBe(true);
    expect((await log.after('999999', 10)).reset).toBe(true);
    for (const hostile of ['', 'abc', '1\n2', '-1', '1-2-3', `${'9'.repeat(40)}`, '0x10']) {
      expect(log.isValidId(hostile)).toBe(false);
      expect((await log.after(hostile, 10)).reset).toBe(true);
    }
    await log.close();
  });

  test('tail delivers every event appended after it started, in order', async () => {
    const log = await make(1000);
    await log.append({ data: 'before' });
    const { wait, listener } = nextEvents(50);
    const stop = await log.tail(listener, (error) => {
      throw error;
    });
    const appended: LoggedEvent[] = [];
    for (let i = 0; i < 50; i++) appended.push(await log.append({ data: `live ${i}` }));
    expect(await wait).toEqual(appended);
    stop();
    await log.close();
  });
});

test('two RedisStreamLogs on one key (two processes) share ids, replay and tail', async () => {
  const a = new Redis(redis.port, '127.0.0.1');
  const b = createClient({ url: redis.url });
  await b.connect();
  clients.push({ close: () => a.quit() }, { close: async () => b.destroy() });
  const key = `shared:${++keySeq}`;
  const logA = new RedisStreamLog({ client: a, key, block: 200 });
  const logB = new RedisStreamLog({ client: b, key, block: 200 });
  const { wait, listener } = nextEvents(20);
  const stop = await logB.tail(listener, () => undefined);
  const appended: LoggedEvent[] = [];
  for (let i = 0; i < 20; i++)
    appended.push(await (i % 2 ? logA : logB).append({ event: 'n', data: String(i) }));
  expect(await wait).toEqual(appended);
  expect((await logA.after(appended[9]!.id, 100)).events).toEqual(appended.slice(10));
  stop();
  await Promise.all([logA.close(), logB.close()]);
});

test('RedisStreamLog fails loudly when Redis is gone', async () => {
  const client = new Redis(redis.port, '127.0.0.1', {
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    lazyConnect: true,
  });
  await client.connect();
  const log = new RedisStreamLog({ client, key: `gone:${++keySeq}`, block: 100 });
  await log.append({ data: 'ok' });
  client.disconnect();
  await expect(log.append({ data: 'lost?' })).rejects.toThrow();
  await log.close();
});

test('bad options throw a TypeError naming them', () => {
  expect(() => new MemoryReplayLog({ maxEvents: 0 })).toThrow(
    'option maxEvents must be an integer >= 1, got 0',
  );
  expect(() => new MemoryReplayLog({ maxAge: 'forever' })).toThrow(
    /option maxAge must be a duration/,
  );
  expect(() => new RedisStreamLog({ client: {} as never, key: 'k' })).toThrow(
    'option client must be an ioredis client, a node-redis client, or a sendCommand(args) function',
  );
  expect(() => new RedisStreamLog({ client: new MemoryReplayLog() as never, key: 'k' })).toThrow(
    /option client/,
  );
});

test('MemoryReplayLog drops events past their age', async () => {
  let now = 1_000;
  const log = new MemoryReplayLog({ maxEvents: 100, maxAge: 1000 }, () => now);
  const first = await log.append({ data: 'old' });
  now += 600;
  const second = await log.append({ data: 'newer' });
  now += 600;
  // 'old' aged out: a client that saw it still resumes; one that did not must reset.
  expect(await log.after(first.id, 10)).toEqual({ events: [second], reset: false });
  expect(await log.after('0', 10)).toEqual({ events: [], reset: true, last: second.id });
  const third = await log.append({ data: 'new' });
  expect(await log.after(second.id, 10)).toEqual({ events: [third], reset: false });
});

test('a sendCommand function serves appends but not a tail, which needs its own connection', async () => {
  const client = new Redis(redis.port, '127.0.0.1');
  clients.push({ close: () => client.quit() });
  const send = (args: string[]) => client.call(args[0]!, ...args.slice(1));
  const log = new RedisStreamLog({ client: send, key: `fn:${++keySeq}` });
  const appended = await log.append({ data: 'via a function' });
  expect((await log.after('0-0', 10)).events).toEqual([appended]);
  await expect(
    log.tail(
      () => undefined,
      () => undefined,
    ),
  ).rejects.toThrow(
    'option client: a sendCommand function cannot open the second connection blocking reads need',
  );
  await log.close();
});

test('MemoryReplayLog: ids from another instance (a previous process) reset; 0 still means everything', async () => {
  const before = new MemoryReplayLog();
  const old: string[] = [];
  for (let i = 0; i < 5; i++) old.push((await before.append({ data: `old ${i}` })).id);
  const now = new MemoryReplayLog();
  const fresh: string[] = [];
  for (let i = 0; i < 10; i++) fresh.push((await now.append({ data: `new ${i}` })).id);
  // Before epochs both logs issued 1…n: the old cursor `3` would replay `new 3…9`.
  expect(await now.after(old[2]!, 100)).toEqual({ events: [], reset: true, last: fresh[9] });
  expect((await now.after('0', 100)).events.map((e) => e.id)).toEqual(fresh);
  expect(await now.after('3', 100)).toEqual({ events: [], reset: true, last: fresh[9] });
  for (const id of fresh) expect(id).not.toMatch(/[\r\n\0]/);
});
