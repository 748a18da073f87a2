import type { IncomingMessage } from 'node:http';
import Redis from 'ioredis';
import Redis6 from 'ioredis6';
import { createClient as createClient5 } from 'redis';
import { createClient as createClient4 } from 'redis4';
import { createClient as createClient6 } from 'redis6';
import type { RedisClientLike } from '../../src/core/redis';
import { createChannels } from '../../src/sse/channels';
import { MemoryReplayLogs } from '../../src/sse/memory-replay-log';
import { RedisStreamLogs } from '../../src/sse/redis-stream-log';
import { mount } from '../helpers/harness';
import { type RedisServer, startRedis } from '../helpers/redis';
import { connectIoredis, connectNodeRedis, type NodeRedisClient } from '../helpers/redis-clients';
import { connectEvents, type EventClient } from './channel-client';
import { eventually } from './helpers';

/**
 * createChannels: many topics, one blocking Redis connection per process,
 * idle topics dropped, a per-subscriber filter on replay and live alike;
 * against a real redis-server with every client major.
 */

let redis: RedisServer;
let admin: Redis;
const closers: (() => Promise<unknown> | undefined)[] = [];
const quiet = { warn: () => undefined };
let prefixSeq = 0;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.port, '127.0.0.1', { retryStrategy: () => 50 });
  admin.on('error', () => undefined);
});

afterEach(async () => {
  const all = closers.splice(0).reverse();
  for (const close of all) await Promise.resolve(close()).catch(() => undefined);
  // Every connection the test (and the hub) opened is closed: only the admin one is left.
  await eventually(
    async () => (await connectedClients().catch(() => 0)) === 1,
    'connections to close',
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
  [
    'ioredis 6 (RESP3, resp3 mapping)',
    async () => ioredis(() => new Redis6(redis.port, '127.0.0.1', { replyMapping: 'resp3' })),
  ],
  [
    'ioredis 6 (RESP2)',
    async () => ioredis(() => new Redis6(redis.port, '127.0.0.1', { protocol: 2 })),
  ],
  ['node-redis 4', () => nodeRedis(createClient4({ url: redis.url }))],
  ['node-redis 5 (RESP2)', () => nodeRedis(createClient5({ url: redis.url }))],
  ['node-redis 5 (RESP3)', () => nodeRedis(createClient5({ url: redis.url, RESP: 3 }))],
  ['node-redis 6 (RESP2)', () => nodeRedis(createClient6({ url: redis.url }))],
  ['node-redis 6 (RESP3)', () => nodeRedis(createClient6({ url: redis.url, RESP: 3 }))],
];

/** Clients connected to the server now (INFO clients), the admin connection included. */
async function connectedClients(): Promise<number> {
  const info = String(await admin.info('clients'));
  return Number(/connected_clients:(\d+)/.exec(info)![1]);
}

function topicOf(req: IncomingMessage): string {
  return new URL(req.url ?? '/', 'http://x').pathname.slice(1);
}

async function hubApp(
  hub: ReturnType<typeof createChannels>,
  filter?: (event: { event?: string }, req: IncomingMessage) => boolean,
) {
  return mount('express5', {
    handler: hub.handler({ topic: topicOf, filter, heartbeat: false, logger: quiet }),
  });
}

describe.each(clientKinds)('hub with %s', (_name, make) => {
  test('20 topics share one blocking connection; a topic added while the read blocks is read at once', async () => {
    const client = await make();
    const before = await connectedClients();
    // block: 60 s: without waking the blocked read, a new topic would wait a minute for its events.
    const logs = new RedisStreamLogs({
      client,
      prefix: `hub:${++prefixSeq}:`,
      block: 60_000,
    });
    const hub = createChannels({ replay: logs, logger: quiet });
    closers.push(() => hub.close());
    const app = await hubApp(hub);
    const clients: EventClient[] = [];
    for (let t = 0; t < 20; t++) {
      clients.push(await connectEvents(`${app.url}/room${t}`));
      await eventually(() => hub.subscribers(`room${t}`) === 1, `room${t}'s subscriber`);
      // Each topic's event reaches its subscriber while the multiplexed read is blocked.
      await hub.publish(`room${t}`, { event: 'hello', data: `to room${t}` });
      await clients[t]!.waitFor(1);
    }
    for (let t = 0; t < 20; t++) await hub.publish(`room${t}`, { data: `again ${t}` });
    for (let t = 0; t < 20; t++) {
      const events = await clients[t]!.waitFor(2);
      expect(events.map((e) => e.data)).toEqual([`to room${t}`, `again ${t}`]);
    }
    expect(hub.size).toBe(20);
    expect([logs.connections, await connectedClients(), before]).toEqual([1, before + 1, before]);
    // The user's client was already connected: the hub opened exactly one more, for 20 topics.
    expect((await connectedClients()) - before).toBe(1);
    for (const c of clients) c.close();
  });
});

test('a per-subscriber filter applies to replayed and live events alike', async () => {
  const client = await clientKinds[0]![1]();
  const hub = createChannels({
    replay: new RedisStreamLogs({ client, prefix: `filter:${++prefixSeq}:`, block: 200 }),
    logger: quiet,
  });
  closers.push(() => hub.close());
  // The authorisation hook: only admins see `secret` events.
  const app = await hubApp(
    hub,
    (event, req) => event.event !== 'secret' || req.headers['x-role'] === 'admin',
  );
  await hub.publish('doc', { event: 'edit', data: 'one' });
  await hub.publish('doc', { event: 'secret', data: 'hidden' });
  await hub.publish('doc', { event: 'edit', data: 'two' });
  const reader = await connectEvents(`${app.url}/doc`, '0');
  await reader.waitFor(2);
  await eventually(() => hub.subscribers('doc') === 1, 'the subscription');
  await hub.publish('doc', { event: 'secret', data: 'hidden live' });
  await hub.publish('doc', { event: 'edit', data: 'three' });
  const events = await reader.waitFor(3);
  expect(events.map((e) => e.data)).toEqual(['one', 'two', 'three']);
  reader.close();
});

test('idle topics are dropped; the shared connection closes when no topic is read, and comes back', async () => {
  const client = await clientKinds[0]![1]();
  const logs = new RedisStreamLogs({ client, prefix: `idle:${++prefixSeq}:`, block: 200 });
  const hub = createChannels({ replay: logs, idle: 50, logger: quiet });
  closers.push(() => hub.close());
  const app = await hubApp(hub);
  const first = await connectEvents(`${app.url}/a`);
  const second = await connectEvents(`${app.url}/b`);
  await eventually(() => hub.subscribers('a') === 1 && hub.subscribers('b') === 1, 'both');
  expect(hub.size).toBe(2);
  const id = await hub.publish('a', { data: 'before' });
  await first.waitFor(1);
  first.close();
  // b keeps a subscriber: only a goes.
  await eventually(() => hub.size === 1, 'topic a to be dropped');
  expect(hub.subscribers('b')).toBe(1);
  second.close();
  await eventually(() => hub.size === 0, 'topic b to be dropped');
  await eventually(() => logs.connections === 0, 'the shared connection to close');
  // The topic is made again on use; its Redis stream kept the events: a cursor still resumes.
  await hub.publish('a', { data: 'after' });
  const back = await connectEvents(`${app.url}/a`, id);
  expect((await back.waitFor(1)).map((e) => e.data)).toEqual(['after']);
  expect(logs.connections).toBe(1);
  back.close();
});

test('memory topics: a dropped topic forgets its events, and its old ids get a reset, not a wrong replay', async () => {
  const hub = createChannels({ replay: new MemoryReplayLogs(), idle: 20, logger: quiet });
  closers.push(() => hub.close());
  const app = await hubApp(hub);
  const old = await hub.publish('t', { data: 'one' });
  await hub.publish('t', { data: 'two' });
  await eventually(() => hub.size === 0, 'the idle topic to be dropped');
  const next = await hub.publish('t', { data: 'new one' });
  await hub.publish('t', { data: 'new two' });
  // Before epochs, `1` from the lost log would replay `new two` as if it followed `one`.
  const client = await connectEvents(`${app.url}/t`, old);
  const [reset] = await client.waitFor(1);
  expect(reset).toMatchObject({ event: 'reset' });
  expect(reset!.id).not.toBe(next);
  client.close();
});

describe.each(
  clientKinds.filter(([name]) => name === 'ioredis 5' || name.startsWith('node-redis')),
)('redis-server killed under a hub with %s', (_name, make) => {
  test('no crash: every topic subscriber gets CHANNEL_UNAVAILABLE and a close; after a restart topics work again', async () => {
    const client = await make();
    const hub = createChannels({
      replay: new RedisStreamLogs({
        client,
        prefix: `kill:${++prefixSeq}:`,
        block: 200,
        timeout: 500,
      }),
      logger: quiet,
    });
    closers.push(() => hub.close());
    const app = await hubApp(hub);
    const clients = await Promise.all(['x', 'y', 'z'].map((t) => connectEvents(`${app.url}/${t}`)));
    await eventually(
      () => ['x', 'y', 'z'].every((t) => hub.subscribers(t) === 1),
      'three subscriptions',
    );
    await redis.kill();
    for (const c of clients) {
      await c.ended;
      const error = c.events.find((e) => e.event === 'error');
      expect(JSON.parse(error!.data)).toMatchObject({ code: 'CHANNEL_UNAVAILABLE' });
    }
    await expect(hub.publish('x', { data: 'lost?' })).rejects.toThrow();
    await redis.restart();
    await eventually(
      async () => {
        try {
          await hub.publish('x', { data: 'probe' });
          return true;
        } catch {
          return false;
        }
      },
      'redis to be back for the client',
      10_000,
    );
    const again = await connectEvents(`${app.url}/x`);
    await eventually(() => hub.subscribers('x') === 1, 'the new subscription');
    await hub.publish('x', { data: 'back' });
    // The tail resumes where it stopped, so events acknowledged meanwhile come first; then 'back'.
    await eventually(() => again.events.some((e) => e.data === 'back'), 'the live event');
    again.close();
  });
});

test('bad options and topics', async () => {
  expect(() => createChannels({ replay: {} as never })).toThrow(
    /option replay must be a ReplayLogs/,
  );
  expect(() => createChannels({ idle: 0 })).toThrow('option idle must be a positive duration');
  expect(() => createChannels({ maxTopics: 0 })).toThrow(/option maxTopics/);
  expect(() => new RedisStreamLogs({ client: {} as never })).toThrow(/option client/);
  expect(() => new RedisStreamLogs({ client: admin, prefix: 1 as never })).toThrow(
    'option prefix must be a string',
  );
  const hub = createChannels({ logger: quiet, maxTopics: 2 });
  closers.push(() => hub.close());
  expect(() => hub.handler({} as never)).toThrow('option topic must be a function');
  await expect(hub.publish('', { data: 'x' })).rejects.toThrow(TypeError);
  await expect(hub.publish('x'.repeat(300), { data: 'x' })).rejects.toThrow(TypeError);
  const app = await mount('express5', {
    handler: hub.handler({
      topic: (req) => {
        if (req.url?.includes('boom')) throw new Error('no such room');
        return topicOf(req);
      },
      heartbeat: false,
    }),
  });
  expect((await connectEvents(`${app.url}/boom`)).status).toBe(400);
  expect((await connectEvents(`${app.url}/${'r'.repeat(300)}`)).status).toBe(400);
  await hub.publish('one', { data: '1' });
  await hub.publish('two', { data: '2' });
  await expect(hub.publish('three', { data: '3' })).rejects.toMatchObject({
    status: 503,
    type: 'channel.topics.exhausted',
  });
});
