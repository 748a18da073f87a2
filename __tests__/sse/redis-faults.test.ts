import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Redis from 'ioredis';
import Redis6 from 'ioredis6';
import { createClient as createClient5 } from 'redis';
import { createClient as createClient4 } from 'redis4';
import { createClient as createClient6 } from 'redis6';
import { RedisTimeoutError } from '../../src/core/deadlines';
import type { RedisClientLike } from '../../src/core/redis';
import { createChannel } from '../../src/sse/channel';
import { MemoryReplayLog } from '../../src/sse/memory-replay-log';
import { RedisStreamLog } from '../../src/sse/redis-stream-log';
import type { LoggedEvent } from '../../src/sse/replay-log';
import { mount } from '../helpers/harness';
import { type RedisServer, startRedis } from '../helpers/redis';
import { connectNodeRedis, type NodeRedisClient } from '../helpers/redis-clients';
import { connectEvents, stalledClient } from './channel-client';
import { eventually, nextEvents } from './helpers';

/**
 * RedisStreamLog and channels against a real redis-server that is killed,
 * stopped (SIGSTOP) and restarted without persistence, with every client
 * major the package supports (ioredis 5/6, node-redis 4/5/6, RESP2 and RESP3).
 */

let redis: RedisServer;
const closers: (() => unknown)[] = [];
const quiet = { warn: () => undefined };
let keySeq = 0;

beforeAll(async () => {
  redis = await startRedis();
});

afterEach(async () => {
  if (redis.pid !== undefined) process.kill(redis.pid, 'SIGCONT');
  const all = closers.splice(0);
  await Promise.all(all.map((close) => Promise.resolve(close()).catch(() => undefined)));
});

afterAll(async () => {
  await redis.stop();
});

/** Resolves once redis-server answers again (after a restart). */
async function ready(): Promise<void> {
  const probe = new Redis(redis.port, '127.0.0.1', { lazyConnect: true, retryStrategy: () => 50 });
  await probe.connect();
  await probe.quit();
}

type Make = () => Promise<RedisClientLike>;

/** Each client major and protocol, connected to the test server; each closes after its test. */
const clientKinds: [string, Make][] = [
  ['ioredis 5', async () => ioredis5()],
  [
    'ioredis 6 (RESP3)',
    async () => {
      const c = new Redis6(redis.port, '127.0.0.1');
      closers.push(() => c.disconnect());
      return c;
    },
  ],
  [
    'ioredis 6 (RESP3, resp3 mapping)',
    async () => {
      const c = new Redis6(redis.port, '127.0.0.1', { replyMapping: 'resp3' });
      closers.push(() => c.disconnect());
      return c;
    },
  ],
  [
    'ioredis 6 (RESP2)',
    async () => {
      const c = new Redis6(redis.port, '127.0.0.1', { protocol: 2 });
      closers.push(() => c.disconnect());
      return c;
    },
  ],
  ['node-redis 4', () => nodeRedis(createClient4({ url: redis.url }))],
  ['node-redis 5 (RESP2)', () => nodeRedis(createClient5({ url: redis.url }))],
  ['node-redis 5 (RESP3)', () => nodeRedis(createClient5({ url: redis.url, RESP: 3 }))],
  ['node-redis 6 (RESP2)', () => nodeRedis(createClient6({ url: redis.url }))],
  ['node-redis 6 (RESP3)', () => nodeRedis(createClient6({ url: redis.url, RESP: 3 }))],
];

function ioredis5(options: Record<string, unknown> = {}): Redis {
  const c = new Redis(redis.port, '127.0.0.1', options);
  c.on('error', () => undefined);
  closers.push(() => c.disconnect());
  return c;
}

function nodeRedis(client: NodeRedisClient): Promise<RedisClientLike> {
  return connectNodeRedis(client, closers);
}

describe.each(clientKinds)('reply shapes: %s', (_name, make) => {
  test('append, replay, tail and trimming read every reply shape exactly', async () => {
    const log = new RedisStreamLog({
      client: await make(),
      key: `shape:${++keySeq}`,
      block: 200,
      maxLength: 5,
    });
    closers.push(() => log.close());
    const before = await log.append({ event: 'tick', data: 'first\nline' });
    const { wait, listener } = nextEvents(8);
    const stop = await log.tail(listener, (error) => {
      throw error;
    });
    const appended: LoggedEvent[] = [];
    for (let i = 0; i < 8; i++)
      appended.push(await log.append(i % 2 ? { event: 'odd', data: `e${i}` } : { data: `e${i}` }));
    expect(await wait).toEqual(appended);
    expect(appended[1]).toEqual({ id: appended[1]!.id, event: 'odd', data: 'e1' });
    const replay = await log.after(appended[4]!.id, 100);
    expect(replay).toEqual({ events: appended.slice(5), reset: false });
    // Trimmed to 5 (+1): the first event is gone, so its cursor must reset.
    expect(await log.after(before.id, 100)).toEqual({
      events: [],
      reset: true,
      last: appended[7]!.id,
    });
    stop();
  });
});

describe.each(clientKinds.filter(([name]) => name.startsWith('node-redis')))(
  'outage with %s',
  (_name, make) => {
    test('killing redis-server does not crash the process: subscribers get CHANNEL_UNAVAILABLE and a close', async () => {
      const channel = createChannel({
        replay: new RedisStreamLog({
          client: await make(),
          key: `kill:${++keySeq}`,
          block: 200,
          timeout: 500,
        }),
        logger: quiet,
      });
      closers.push(() => channel.close());
      const app = await mount('express5', { handler: channel.handler({ heartbeat: false }) });
      const client = await connectEvents(app.url);
      await eventually(() => channel.size === 1, 'the subscription');
      await redis.kill();
      await client.ended;
      const error = client.events.find((e) => e.event === 'error');
      expect(JSON.parse(error!.data)).toMatchObject({ code: 'CHANNEL_UNAVAILABLE' });
      await redis.restart();
    });
  },
);

test('SIGSTOP: publish rejects within the timeout, a new subscriber gets the error and a close, the tail ends', async () => {
  const client = ioredis5();
  const channel = createChannel({
    replay: new RedisStreamLog({ client, key: `stop:${++keySeq}`, block: 200, timeout: 300 }),
    logger: quiet,
  });
  closers.push(() => channel.close());
  const app = await mount('express5', { handler: channel.handler({ heartbeat: false }) });
  const existing = await connectEvents(app.url);
  await eventually(() => channel.size === 1, 'the subscription');
  await channel.publish({ data: 'before' });
  await existing.waitFor(1);

  process.kill(redis.pid!, 'SIGSTOP');
  const started = Date.now();
  await expect(channel.publish({ data: 'while stopped' })).rejects.toBeInstanceOf(
    RedisTimeoutError,
  );
  expect(Date.now() - started).toBeLessThan(3000);
  // The tail's XREAD is not back within block + timeout: existing subscribers are told and closed.
  await existing.ended;
  expect(existing.events.map((e) => e.event)).toEqual([undefined, 'error']);
  // A subscriber arriving now is not parked: it gets the error event and a close.
  const late = await connectEvents(app.url);
  expect(late.status).toBe(200);
  await late.ended;
  expect(late.events).toHaveLength(1);
  expect(JSON.parse(late.events[0]!.data)).toMatchObject({ code: 'CHANNEL_UNAVAILABLE' });
  process.kill(redis.pid!, 'SIGCONT');
});

test('killed: publish rejects within the timeout even when ioredis queues the command offline', async () => {
  const client = ioredis5();
  const log = new RedisStreamLog({ client, key: `offline:${++keySeq}`, timeout: 300 });
  closers.push(() => log.close());
  await log.append({ data: 'ok' });
  await redis.kill();
  const started = Date.now();
  await expect(log.append({ data: 'lost?' })).rejects.toBeInstanceOf(RedisTimeoutError);
  expect(Date.now() - started).toBeLessThan(3000);
  await redis.restart();
});

test('a tail that failed resumes from the last id it delivered, not from the newest', async () => {
  const key = `resume:${++keySeq}`;
  const log = new RedisStreamLog({ client: ioredis5(), key, block: 100, timeout: 300 });
  const writer = new RedisStreamLog({ client: ioredis5(), key });
  closers.push(
    () => log.close(),
    () => writer.close(),
  );
  const seen: LoggedEvent[] = [];
  let failed = false;
  await log.tail(
    (e) => seen.push(e),
    () => {
      failed = true;
    },
  );
  const first = await writer.append({ data: 'one' });
  await eventually(() => seen.length === 1, 'the first event');
  process.kill(redis.pid!, 'SIGSTOP');
  await eventually(() => failed, 'the tail to fail', 5000);
  process.kill(redis.pid!, 'SIGCONT');
  // Acknowledged while no tail ran: the next tail must deliver it.
  const missed = await writer.append({ data: 'two' });
  const { wait, listener } = nextEvents(2);
  await log.tail(listener, () => undefined);
  const later = await writer.append({ data: 'three' });
  expect(await wait).toEqual([missed, later]);
  expect(seen).toEqual([first]);
});

test('Redis restarted without persistence: a cursor from the lost stream gets a reset', async () => {
  const client = ioredis5({ maxRetriesPerRequest: 1 });
  const key = `lost:${++keySeq}`;
  const log = new RedisStreamLog({ client, key, block: 200 });
  closers.push(() => log.close());
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await log.append({ data: String(i) })).id);
  await redis.kill();
  await redis.restart();
  await ready();
  await eventually(() => client.status === 'ready', 'the client to reconnect');
  const fresh = await log.append({ data: 'new stream' });
  expect(await log.after(ids[1]!, 10)).toEqual({ events: [], reset: true, last: fresh.id });
});

test('Last-Event-ID: 0 replays everything a RedisStreamLog holds; ids outside 64 bits are invalid', async () => {
  const client = ioredis5();
  const log = new RedisStreamLog({ client, key: `zero:${++keySeq}`, block: 200 });
  const channel = createChannel({ replay: log, logger: quiet });
  closers.push(() => channel.close());
  for (let i = 0; i < 3; i++) await channel.publish({ data: `e${i}` });
  const app = await mount('express5', { handler: channel.handler({ heartbeat: false }) });
  const everything = await connectEvents(app.url, '0');
  expect((await everything.waitFor(3)).map((e) => e.data)).toEqual(['e0', 'e1', 'e2']);
  everything.close();

  const max = (2n ** 64n - 1n).toString();
  expect(log.isValidId(`AbCd_-12:${max}-${max}`)).toBe(true);
  expect(log.isValidId(`AbCd_-12:${2n ** 64n}-0`)).toBe(false);
  expect(log.isValidId(`AbCd_-12:1-${2n ** 64n}`)).toBe(false);
  expect(log.isValidId('AbCd_-12:99999999999999999999-0')).toBe(false);
  const memory = new MemoryReplayLog();
  expect(memory.isValidId(`AbCd_-12:${Number.MAX_SAFE_INTEGER}`)).toBe(true);
  expect(memory.isValidId('AbCd_-12:9999999999999999')).toBe(false);
});

/** heap + external after a full GC, in bytes. */
function retained(): number {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

test('MemoryReplayLog holds at most maxEvents events (32 KiB events, maxEvents 10)', async () => {
  const log = new MemoryReplayLog({ maxEvents: 10 });
  const base = retained();
  let id = '';
  for (let i = 0; i < 1000; i++) {
    const e = await log.append({
      data: Buffer.alloc(32 * 1024, 97 + (i % 26)).toString('latin1') + i,
    });
    if (i === 989) id = e.id;
  }
  const held = retained() - base;
  // 10 events are 320 KiB; before the fix up to 1,024 trimmed events (33 MiB) stayed reachable.
  expect(held).toBeLessThan(4 * 1024 * 1024);
  expect((await log.after(id, 100)).events).toHaveLength(10);
});

test('live events queued during a replay are bounded: a stalled replaying subscriber does not grow memory', async () => {
  const client = ioredis5();
  const log = new RedisStreamLog({
    client,
    key: `pending:${++keySeq}`,
    block: 200,
    maxLength: 100,
  });
  const channel = createChannel({ replay: log, logger: quiet, replayPage: 50 });
  closers.push(() => channel.close());
  const app = await mount('express5', {
    handler: channel.handler({ heartbeat: false, maxBufferedBytes: 64 * 1024, writeTimeout: 0 }),
  });
  const big = 'x'.repeat(16 * 1024);
  for (let i = 0; i < 100; i++) await channel.publish({ data: big });
  // Asks for everything, then never reads: the replay blocks on its budget.
  const socket = await stalledClient(app.url, '0');
  closers.push(() => {
    socket.destroy();
  });
  await eventually(() => channel.size === 1, 'the subscription');
  const base = retained();
  // 2,000 live events of 16 KiB each (32 MiB), each parsed from XREAD into its own string.
  await Promise.all(
    Array.from({ length: 2000 }, (_, i) => channel.publish({ data: `${i}${big}` })),
  );
  await new Promise((resolve) => setTimeout(resolve, 500));
  const held = retained() - base;
  expect(held).toBeLessThan(12 * 1024 * 1024);
});

test('a replay that overflows its pending bound reads the log again: every event once, in order', async () => {
  const channel = createChannel({
    replay: new MemoryReplayLog({ maxEvents: 10_000 }),
    replayPage: 5,
    logger: quiet,
  });
  closers.push(() => channel.close());
  const app = await mount('express4', { handler: channel.handler({ heartbeat: false }) });
  for (let i = 0; i < 100; i++) await channel.publish({ data: `r${i}` });
  const client = await connectEvents(app.url, '0');
  for (let i = 100; i < 400; i++) await channel.publish({ data: `r${i}` });
  const events = await client.waitFor(400);
  expect(events.map((e) => e.data)).toEqual(Array.from({ length: 400 }, (_, i) => `r${i}`));
  client.close();
});

describe('epochs: a cursor from a lost or restored stream is never replayed against another', () => {
  /** A stream id in the future, so the server's own clock cannot reach it during the test. */
  const AHEAD = `${Date.now() + 10 * 365 * 24 * 3600 * 1000}`;

  test('restarted without persistence with its clock behind: the new stream re-issues the same ids, the old cursor still resets', async () => {
    const client = ioredis5({ maxRetriesPerRequest: 1 });
    const key = `clock:${++keySeq}`;
    const log = new RedisStreamLog({ client, key, block: 200 });
    closers.push(() => log.close());
    // The old server's clock was at AHEAD: its ids are AHEAD-0 … AHEAD-10.
    await client.call('XADD', key, `${AHEAD}-0`, 'data', 'seed');
    const old: string[] = [];
    for (let i = 1; i <= 10; i++) old.push((await log.append({ data: `old ${i}` })).id);
    await redis.kill();
    await redis.restart();
    await ready();
    await eventually(() => client.status === 'ready', 'the client to reconnect');
    // The new server (clock behind, or reaching AHEAD) issues the very same stream ids again.
    await client.call('XADD', key, `${AHEAD}-0`, 'data', 'seed');
    const fresh: string[] = [];
    for (let i = 1; i <= 10; i++) fresh.push((await log.append({ data: `new ${i}` })).id);
    expect(fresh[4]!.split(':')[1]).toBe(old[4]!.split(':')[1]);
    // Without epochs `AHEAD-5` lies inside the new stream and `new 6…10` would be replayed as if nothing was lost.
    expect(await log.after(old[4]!, 100)).toEqual({ events: [], reset: true, last: fresh[9] });
    expect((await log.after(fresh[4]!, 100)).events.map((e) => e.data)).toEqual([
      'new 6',
      'new 7',
      'new 8',
      'new 9',
      'new 10',
    ]);
  });

  test('restored from an older snapshot: a cursor issued after the snapshot resets, even once new ids pass it', async () => {
    const client = ioredis5();
    const key = `snapshot:${++keySeq}`;
    const log = new RedisStreamLog({ client, key, block: 200 });
    closers.push(() => log.close());
    for (let i = 1; i <= 3; i++) await log.append({ data: `kept ${i}` });
    const epochKey = `{${key}}:epoch`;
    const snapshot = [
      (await client.callBuffer('DUMP', key)) as Buffer,
      (await client.callBuffer('DUMP', epochKey)) as Buffer,
    ];
    const lost: string[] = [];
    for (let i = 1; i <= 3; i++) lost.push((await log.append({ data: `lost ${i}` })).id);
    // The snapshot comes back: both keys as they were before `lost 1…3`.
    await client.call('RESTORE', key, '0', snapshot[0]!, 'REPLACE');
    await client.call('RESTORE', epochKey, '0', snapshot[1]!, 'REPLACE');
    const after: string[] = [];
    for (let i = 1; i <= 3; i++) after.push((await log.append({ data: `after ${i}` })).id);
    // Same epoch, and the cursor is between the first entry and the newest: only its absence tells.
    expect(log.compare(lost[0]!, after[0]!)).toBeLessThan(0);
    expect(await log.after(lost[0]!, 100)).toEqual({ events: [], reset: true, last: after[2] });
  });

  test('ids from before the upgrade (bare stream ids) get one reset, with the id to resume from', async () => {
    const client = ioredis5();
    const key = `bare:${++keySeq}`;
    const legacy = String(await client.call('XADD', key, '*', 'data', 'written by an old process'));
    const log = new RedisStreamLog({ client, key, block: 200 });
    closers.push(() => log.close());
    const next = await log.append({ data: 'written now' });
    const reset = await log.after(legacy, 100);
    expect(reset).toEqual({ events: [], reset: true, last: next.id });
    expect(await log.after(reset.last!, 100)).toEqual({ events: [], reset: false });
    // The old entry, read with `0`, is labelled with the stream's epoch.
    const all = await log.after('0', 100);
    expect(all.events.map((e) => e.id)).toEqual([`${next.id.split(':')[0]}:${legacy}`, next.id]);
  });
});
