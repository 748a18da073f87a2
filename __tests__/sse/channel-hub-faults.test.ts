import type { IncomingMessage } from 'node:http';
import Redis from 'ioredis';
import Redis6 from 'ioredis6';
import { createClient as createClient5 } from 'redis';
import { createClient as createClient4 } from 'redis4';
import { createClient as createClient6 } from 'redis6';
import { Deadlines, RedisTimeoutError } from '../../src/core/deadlines';
import { type RedisClientLike, redisCommander } from '../../src/core/redis';
import { createChannels } from '../../src/sse/channels';
import { RedisStreamLogs } from '../../src/sse/redis-stream-log';
import { StreamReader } from '../../src/sse/stream-reader';
import { mount } from '../helpers/harness';
import { type RedisServer, startRedis } from '../helpers/redis';
import { connectIoredis, connectNodeRedis, type NodeRedisClient } from '../helpers/redis-clients';
import { connectEvents, type EventClient } from './channel-client';
import { eventually, failOnUnhandledRejections } from './helpers';

/**
 * The createChannels hub (RedisStreamLogs: one multiplexed XREAD per
 * process) under real redis-server faults: stalled (SIGSTOP/SIGCONT),
 * restarted without persistence, a stream key deleted while it is read.
 */

let redis: RedisServer;
let admin: Redis;
const closers: (() => Promise<unknown> | undefined)[] = [];
const quiet = { warn: () => undefined };
let prefixSeq = 0;

failOnUnhandledRejections();

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.port, '127.0.0.1', { retryStrategy: () => 50 });
  admin.on('error', () => undefined);
});

afterEach(async () => {
  if (redis.pid !== undefined) process.kill(redis.pid, 'SIGCONT');
  const all = closers.splice(0).reverse();
  for (const close of all) await Promise.resolve(close()).catch(() => undefined);
  // Every connection the test (and the hub) opened is closed: only the admin one is left.
  await eventually(
    async () => (await connectedClients().catch(() => 0)) === 1,
    'connections to close',
    10_000,
  );
});

afterAll(async () => {
  admin.disconnect();
  await redis.stop();
});

function nodeRedis(client: NodeRedisClient): Promise<RedisClientLike> {
  return connectNodeRedis(client, closers);
}

function ioredis(make: () => Redis | InstanceType<typeof Redis6>): Promise<RedisClientLike> {
  return connectIoredis(make(), closers);
}

const clientKinds: [string, () => Promise<RedisClientLike>][] = [
  ['ioredis 5', async () => ioredis(() => new Redis(redis.port, '127.0.0.1'))],
  ['ioredis 6 (RESP3)', async () => ioredis(() => new Redis6(redis.port, '127.0.0.1'))],
  ['node-redis 4', () => nodeRedis(createClient4({ url: redis.url }))],
  ['node-redis 5 (RESP3)', () => nodeRedis(createClient5({ url: redis.url, RESP: 3 }))],
  ['node-redis 6 (RESP2)', () => nodeRedis(createClient6({ url: redis.url }))],
];

/** Clients connected to the server now (INFO clients), the admin connection included. */
async function connectedClients(): Promise<number> {
  const info = String(await admin.info('clients'));
  return Number(/connected_clients:(\d+)/.exec(info)![1]);
}

function topicOf(req: IncomingMessage): string {
  return new URL(req.url ?? '/', 'http://x').pathname.slice(1);
}

async function hubApp(hub: ReturnType<typeof createChannels>) {
  return mount('express5', {
    handler: hub.handler({ topic: topicOf, heartbeat: false, logger: quiet }),
  });
}

/** Publishes until the log answers again (after SIGCONT or a restart); resolves with the acknowledged id. */
async function publishWhenBack(
  hub: ReturnType<typeof createChannels>,
  topic: string,
  data: string,
): Promise<string> {
  let id = '';
  await eventually(
    async () => {
      try {
        id = await hub.publish(topic, { data });
        return true;
      } catch {
        return false;
      }
    },
    'redis to answer again',
    15_000,
  );
  return id;
}

function errorCode(client: EventClient): unknown {
  const error = client.events.find((e) => e.event === 'error');
  return error === undefined ? undefined : JSON.parse(error.data).code;
}

const TOPICS = ['x', 'y', 'z'];
const BLOCK = 200;
const TIMEOUT = 300;

describe.each(clientKinds)('SIGSTOP/SIGCONT under a hub with %s', (_name, make) => {
  test('every topic errors and closes, publish rejects in time, a late subscriber is not parked; after SIGCONT nothing acknowledged is missed and no connection leaks', async () => {
    const client = await make();
    const baseline = await connectedClients();
    const logs = new RedisStreamLogs({
      client,
      prefix: `stop:${++prefixSeq}:`,
      block: BLOCK,
      timeout: TIMEOUT,
    });
    const hub = createChannels({ replay: logs, logger: quiet });
    closers.push(() => hub.close());
    const app = await hubApp(hub);
    const clients = await Promise.all(TOPICS.map((t) => connectEvents(`${app.url}/${t}`)));
    await eventually(() => TOPICS.every((t) => hub.subscribers(t) === 1), 'three subscriptions');
    const acknowledged = new Map<string, string[]>();
    for (const t of TOPICS) acknowledged.set(t, [await hub.publish(t, { data: `before ${t}` })]);
    await Promise.all(clients.map((c) => c.waitFor(1)));

    process.kill(redis.pid!, 'SIGSTOP');
    const stopped = Date.now();
    await expect(hub.publish('x', { data: 'while stopped' })).rejects.toBeInstanceOf(
      RedisTimeoutError,
    );
    expect(Date.now() - stopped).toBeLessThan(TIMEOUT + 2000);
    // The multiplexed XREAD is not back within block + timeout: every topic's subscriber is told and closed.
    for (const c of clients) {
      await c.ended;
      expect(errorCode(c)).toBe('CHANNEL_UNAVAILABLE');
    }
    expect(Date.now() - stopped).toBeLessThan(BLOCK + TIMEOUT + 3000);
    // Subscribers arriving now, to a known topic and to a new one, are not parked with a 200 and silence.
    for (const topic of ['x', 'fresh']) {
      const late = await connectEvents(`${app.url}/${topic}`);
      expect(late.status).toBe(200);
      await late.ended;
      expect(late.events.map((e) => e.event)).toEqual(['error']);
      expect(errorCode(late)).toBe('CHANNEL_UNAVAILABLE');
    }
    process.kill(redis.pid!, 'SIGCONT');

    acknowledged.get('x')!.push(await publishWhenBack(hub, 'x', 'after x'));
    for (const t of ['y', 'z'])
      acknowledged.get(t)!.push(await hub.publish(t, { data: `after ${t}` }));
    // Each client reconnects with its Last-Event-ID: everything acknowledged since is replayed, then live.
    const back = await Promise.all(
      TOPICS.map((t, i) => connectEvents(`${app.url}/${t}`, clients[i]!.lastEventId)),
    );
    await eventually(() => TOPICS.every((t) => hub.subscribers(t) === 1), 'the resubscriptions');
    for (const t of TOPICS) acknowledged.get(t)!.push(await hub.publish(t, { data: `live ${t}` }));
    for (const [i, t] of TOPICS.entries()) {
      const want = acknowledged.get(t)!.slice(1);
      await eventually(
        () => back[i]!.events.some((e) => e.id === want[want.length - 1]),
        `${t}'s live event`,
      );
      const ids = back[i]!.events.map((e) => e.id);
      expect(back[i]!.events.some((e) => e.event === 'reset' || e.event === 'error')).toBe(false);
      // Nothing acknowledged is missing, nothing is doubled (a publish that timed out may or may not be there).
      for (const id of want) expect(ids).toContain(id);
      expect(new Set(ids).size).toBe(ids.length);
    }
    // A new subscriber works too.
    const fresh = await connectEvents(`${app.url}/fresh`);
    await eventually(() => hub.subscribers('fresh') === 1, 'the fresh subscription');
    await hub.publish('fresh', { data: 'hello' });
    expect((await fresh.waitFor(1)).map((e) => e.data)).toEqual(['hello']);
    for (const c of [...back, fresh]) c.close();
    // The hub's blocking connection is the only one it adds; closed with it, the server is back to baseline.
    expect(await connectedClients()).toBe(baseline + 1);
    await hub.close();
    await eventually(async () => (await connectedClients()) === baseline, 'the baseline', 10_000);
  }, 30_000);
});

describe.each(clientKinds)('the shared reader opened during a stall, with %s', (_name, make) => {
  test('its connection, opening past the deadline, is closed once the server answers: no leaked connection', async () => {
    const client = await make();
    const baseline = await connectedClients();
    const deadlines = new Deadlines(TIMEOUT);
    closers.push(async () => deadlines.close());
    const reader = new StreamReader(redisCommander(client, 'client'), {
      block: BLOCK,
      timeout: TIMEOUT,
      race: (work) => deadlines.race(work),
    });
    closers.push(() => reader.close());
    process.kill(redis.pid!, 'SIGSTOP');
    // The duplicate's socket connects (the kernel accepts it) but its handshake gets no answer.
    await expect(
      reader.add(`opening:${++prefixSeq}`, '0-0', {
        onEntries: () => undefined,
        onError: () => undefined,
      }),
    ).rejects.toBeInstanceOf(RedisTimeoutError);
    expect(reader.connected).toBe(false);
    process.kill(redis.pid!, 'SIGCONT');
    await admin.ping();
    await eventually(
      async () => (await connectedClients()) === baseline,
      'the late connection to be closed',
    );
  });
});

describe.each(clientKinds)(
  'redis-server restarted without persistence under a hub with %s',
  (_name, make) => {
    test('a cursor from before gets one reset carrying an id; topics recover, live and replayed', async () => {
      const client = await make();
      const logs = new RedisStreamLogs({
        client,
        prefix: `restart:${++prefixSeq}:`,
        block: BLOCK,
        timeout: TIMEOUT,
      });
      const hub = createChannels({ replay: logs, logger: quiet });
      closers.push(() => hub.close());
      const app = await hubApp(hub);
      const clients = await Promise.all(['x', 'y'].map((t) => connectEvents(`${app.url}/${t}`)));
      await eventually(() => hub.subscribers('x') === 1 && hub.subscribers('y') === 1, 'both');
      for (const t of ['x', 'y']) {
        await hub.publish(t, { data: `${t} one` });
        await hub.publish(t, { data: `${t} two` });
      }
      await Promise.all(clients.map((c) => c.waitFor(2)));
      const [oldX, oldY] = clients.map((c) => c.lastEventId!);

      await redis.kill();
      for (const c of clients) {
        await c.ended;
        expect(errorCode(c)).toBe('CHANNEL_UNAVAILABLE');
      }
      await redis.restart();
      // x is written again (a new stream); y is not: its stream does not exist any more.
      const probe = await publishWhenBack(hub, 'x', 'x after restart');
      expect(probe.split(':')[0]).not.toBe(oldX!.split(':')[0]);

      const backX = await connectEvents(`${app.url}/x`, oldX);
      const backY = await connectEvents(`${app.url}/y`, oldY);
      const [resetX] = await backX.waitFor(1);
      const [resetY] = await backY.waitFor(1);
      // Before epochs, x's old cursor was replayed against the new stream and `x after restart` was lost.
      expect(resetX).toMatchObject({ event: 'reset', id: probe });
      expect(resetY).toMatchObject({ event: 'reset' });
      expect(resetY!.id).toBeDefined();
      await eventually(() => hub.subscribers('x') === 1 && hub.subscribers('y') === 1, 'back');
      const liveX = await hub.publish('x', { data: 'x live' });
      const liveY = await hub.publish('y', { data: 'y live' });
      expect((await backX.waitFor(2)).map((e) => e.id)).toEqual([probe, liveX]);
      expect((await backY.waitFor(2)).map((e) => e.data)[1]).toBe('y live');
      backX.close();
      backY.close();
      // Dropping again right after the reset: its id resumes without a second reset.
      const againX = await connectEvents(`${app.url}/x`, resetX!.id);
      await eventually(() => hub.subscribers('x') === 1, 'x again');
      const nextX = await hub.publish('x', { data: 'x next' });
      expect((await againX.waitFor(2)).map((e) => e.id)).toEqual([liveX, nextX]);
      const againY = await connectEvents(`${app.url}/y`, liveY);
      await eventually(() => hub.subscribers('y') === 1, 'y again');
      const nextY = await hub.publish('y', { data: 'y next' });
      expect((await againY.waitFor(1)).map((e) => e.id)).toEqual([nextY]);
      againX.close();
      againY.close();
    }, 30_000);
  },
);

describe.each(clientKinds)(
  'a stream key deleted while the hub reads it, with %s',
  (_name, make) => {
    test.each([
      ['the stream key', false],
      ['the stream and its epoch key', true],
    ])(
      'deleting %s: never a silent gap; the subscriber is told and resumes after a reset',
      async (_what, withEpoch) => {
        const client = await make();
        const prefix = `del:${++prefixSeq}:`;
        const key = `${prefix}d`;
        const epochKey = `{${key}}:epoch`;
        // block: 60 s, so the deletion happens while the multiplexed XREAD is blocked on the key.
        const logs = new RedisStreamLogs({ client, prefix, block: 60_000, timeout: TIMEOUT });
        const hub = createChannels({ replay: logs, logger: quiet });
        closers.push(() => hub.close());
        const app = await hubApp(hub);
        const sub = await connectEvents(`${app.url}/d`);
        await eventually(() => hub.subscribers('d') === 1, 'the subscription');
        const first = await hub.publish('d', { data: 'one' });
        await sub.waitFor(1);
        // Acknowledged, then lost with its stream before the reader saw it (one transaction, so the
        // blocked XREAD is served only after the key is gone).
        const epoch = await admin.get(epochKey);
        const deleted = withEpoch ? [key, epochKey] : [key];
        await admin
          .multi()
          .xadd(key, '*', 'epoch', epoch!, 'data', 'lost')
          .del(...deleted)
          .exec();
        const after = await hub.publish('d', { data: 'after the deletion' });
        expect(after.split(':')[0]).not.toBe(first.split(':')[0]);
        // Before the fix: `after the deletion` arrived right after `one`, `lost` silently missing.
        await sub.ended;
        expect(sub.events.map((e) => e.event)).toEqual([undefined, 'error']);
        expect(errorCode(sub)).toBe('CHANNEL_UNAVAILABLE');
        const back = await connectEvents(`${app.url}/d`, sub.lastEventId);
        const [reset] = await back.waitFor(1);
        expect(reset).toMatchObject({ event: 'reset', id: after });
        await eventually(() => hub.subscribers('d') === 1, 'the resubscription');
        const live = await hub.publish('d', { data: 'live' });
        expect((await back.waitFor(2)).map((e) => e.id)).toEqual([after, live]);
        // A new subscriber reads the new stream live.
        const fresh = await connectEvents(`${app.url}/d`);
        await eventually(() => hub.subscribers('d') === 2, 'the fresh subscription');
        const next = await hub.publish('d', { data: 'next' });
        await fresh.waitFor(1);
        expect(fresh.events.map((e) => e.id)).toContain(next);
        back.close();
        fresh.close();
      },
    );
  },
);

describe.each(clientKinds)(
  'a deleted stream written again below the old ids, with %s',
  (_name, make) => {
    test("the hub's own publish tells the tail at once: a reset, not a silence until the clock passes the old ids", async () => {
      const client = await make();
      const prefix = `behind:${++prefixSeq}:`;
      const key = `${prefix}d`;
      const logs = new RedisStreamLogs({ client, prefix, block: 60_000, timeout: TIMEOUT });
      const hub = createChannels({ replay: logs, logger: quiet });
      closers.push(() => hub.close());
      const app = await hubApp(hub);
      const sub = await connectEvents(`${app.url}/d`);
      await eventually(() => hub.subscribers('d') === 1, 'the subscription');
      await hub.publish('d', { data: 'one' });
      await sub.waitFor(1);
      // The old stream's last id is far ahead of the server clock (a clock that stepped back, or explicit ids).
      const epoch = await admin.get(`{${key}}:epoch`);
      const ahead = `${Date.now() + 10 * 365 * 24 * 3600 * 1000}-0`;
      await admin.xadd(key, ahead, 'epoch', epoch!, 'data', 'ahead');
      await sub.waitFor(2);
      await admin.del(key);
      // The new stream's ids are below the tail's cursor: its XREAD would never return them.
      const after = await hub.publish('d', { data: 'after the deletion' });
      await sub.ended;
      expect(sub.events.map((e) => e.event)).toEqual([undefined, undefined, 'error']);
      const back = await connectEvents(`${app.url}/d`, sub.lastEventId);
      const [reset] = await back.waitFor(1);
      expect(reset).toMatchObject({ event: 'reset', id: after });
      await eventually(() => hub.subscribers('d') === 1, 'the resubscription');
      const live = await hub.publish('d', { data: 'live' });
      expect((await back.waitFor(2)).map((e) => e.id)).toEqual([after, live]);
      back.close();
    });
  },
);
