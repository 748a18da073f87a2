import diagnostics from 'node:diagnostics_channel';
import IORedis from 'ioredis';
import request from 'supertest';
import { CHANNELS, type RateLimitStoreErrorMessage } from '../../src/core/instrument';
import { MemoryStore, RedisStore, rateLimit } from '../../src/rate-limit';
import { mount } from '../helpers/harness';
import { type RedisServer, startRedis } from '../helpers/redis';

let redis: RedisServer;
let io: IORedis;

beforeAll(async () => {
  redis = await startRedis();
  io = new IORedis(redis.port, '127.0.0.1', {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => 50,
  });
  io.on('error', () => undefined);
  await new Promise((resolve) => io.once('ready', resolve));
});

afterAll(async () => {
  io.disconnect();
  await redis.stop();
});

function recorder() {
  const lines: string[] = [];
  return { lines, warn: (m: string) => void lines.push(m) };
}

it('redis-server killed mid-run: fallback, deny (503) and allow, then recovery on restart', async () => {
  const errors: RateLimitStoreErrorMessage[] = [];
  function onStoreError(m: unknown): void {
    errors.push(m as RateLimitStoreErrorMessage);
  }
  diagnostics.subscribe(CHANNELS.rateLimitStoreError, onStoreError);
  const store = new RedisStore({ client: io, prefix: 'outage:', timeout: 300 });
  const common = { rate: 1, interval: '1h', burst: 2, store } as const;
  const fbLogger = recorder();
  const withFallback = rateLimit({
    ...common,
    name: 'fb',
    fallback: new MemoryStore(),
    logger: fbLogger,
  });
  const deny = rateLimit({ ...common, name: 'deny', logger: recorder() });
  const allow = rateLimit({ ...common, name: 'allow', onStoreError: 'allow', logger: recorder() });
  const handler = (
    _req: unknown,
    res: import('node:http').ServerResponse & { locals?: Record<string, unknown> },
  ) => res.end(JSON.stringify(res.locals?.rateLimit ?? null));
  const fb = await mount('express5', { use: [withFallback], handler });
  const dn = await mount('express5', { use: [deny], handler });
  const al = await mount('express5', { use: [allow], handler });

  try {
    // Up: decisions come from Redis.
    expect((await request(fb.url).get('/')).text).toContain('"fallback":false');
    expect((await request(dn.url).get('/')).status).toBe(200);

    await redis.kill();

    // Down: the fallback store decides (and limits), deny answers 503, allow passes.
    const f1 = await request(fb.url).get('/');
    expect(f1.status).toBe(200);
    expect(JSON.parse(f1.text)).toMatchObject({ fallback: true, remaining: 1 });
    expect((await request(fb.url).get('/')).status).toBe(200);
    expect((await request(fb.url).get('/')).status).toBe(429);
    const d = await request(dn.url).get('/');
    expect(d.status).toBe(503);
    expect(d.body.code).toBe('RATE_LIMIT_UNAVAILABLE');
    expect(d.headers['retry-after']).toBe('1');
    expect((await request(al.url).get('/')).status).toBe(200);
    expect((await request(al.url).get('/')).status).toBe(200);
    expect((await request(al.url).get('/')).status).toBe(200);

    expect(withFallback.stats.storeErrors).toBe(3);
    expect(withFallback.stats.fallbackDecisions).toBe(3);
    expect(deny.stats.storeErrors).toBe(1);
    expect(fbLogger.lines.filter((l) => /store failed/.test(l))).toHaveLength(1);
    expect(errors.map((e) => e.action)).toEqual([
      'fallback',
      'fallback',
      'fallback',
      'deny',
      'allow',
      'allow',
      'allow',
    ]);

    // Back on the same port: the client reconnects and Redis decides again.
    await redis.restart();
    if (io.status !== 'ready') await new Promise((resolve) => io.once('ready', resolve));
    const back = await request(fb.url).get('/');
    expect(back.status).toBe(200);
    expect(JSON.parse(back.text)).toMatchObject({ fallback: false, remaining: 1 });
    expect(fbLogger.lines.at(-1)).toMatch(/recovered/);
    expect((await request(dn.url).get('/')).status).toBe(200);
  } finally {
    diagnostics.unsubscribe(CHANNELS.rateLimitStoreError, onStoreError);
  }
});

it('node-redis client: the same outage and recovery', async () => {
  const { createClient } = await import('redis');
  const client = createClient({
    url: redis.url,
    disableOfflineQueue: true,
    socket: { reconnectStrategy: () => 50 },
  });
  client.on('error', () => undefined);
  await client.connect();
  const logger = recorder();
  const limiter = rateLimit({
    rate: 1,
    interval: '1h',
    burst: 2,
    store: new RedisStore({ client, prefix: 'outage-node:', timeout: 300 }),
    fallback: new MemoryStore(),
    logger,
  });
  const handler = (
    _req: unknown,
    res: import('node:http').ServerResponse & { locals?: Record<string, unknown> },
  ) => res.end(JSON.stringify(res.locals?.rateLimit ?? null));
  const app = await mount('connect', { use: [limiter], handler });
  try {
    expect(JSON.parse((await request(app.url).get('/')).text)).toMatchObject({
      fallback: false,
      remaining: 1,
    });
    await redis.kill();
    expect(JSON.parse((await request(app.url).get('/')).text)).toMatchObject({
      fallback: true,
      remaining: 1,
    });
    expect(limiter.stats.storeErrors).toBe(1);
    await redis.restart();
    if (!client.isReady) await new Promise((resolve) => client.once('ready', resolve));
    expect(JSON.parse((await request(app.url).get('/')).text)).toMatchObject({
      fallback: false,
      remaining: 1,
    });
    expect(logger.lines.map((l) => l.replace(/;.*/, ''))).toEqual([
      'rateLimit: store failed',
      'rateLimit: store recovered',
    ]);
  } finally {
    client.destroy();
  }
});
