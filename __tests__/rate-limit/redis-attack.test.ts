import type { IncomingMessage, ServerResponse } from 'node:http';
import IORedis from 'ioredis';
import { createClient } from 'redis';
import request from 'supertest';
import type { RedisClientLike } from '../../src/core/redis';
import { type RateLimitOptions, RedisStore, rateLimit } from '../../src/rate-limit';
import { mount } from '../helpers/harness';
import { type RedisServer, startRedis } from '../helpers/redis';

let redis: RedisServer;
let io: IORedis;
let counter: IORedis;
let nodeRedis: ReturnType<typeof createClient>;

beforeAll(async () => {
  redis = await startRedis();
  io = new IORedis(redis.port, '127.0.0.1');
  counter = new IORedis(redis.port, '127.0.0.1');
  nodeRedis = createClient({ url: redis.url });
  await nodeRedis.connect();
  await io.ping();
});

afterAll(async () => {
  io.disconnect();
  counter.disconnect();
  await nodeRedis.quit();
  await redis.stop();
});

/**
 * Commands the server has run so far, from INFO commandstats (INFO itself
 * left out; the commands a script runs count too), and of them the script
 * calls (EVALSHA/EVAL: one per store round trip).
 */
async function commandStats(): Promise<{ all: number; scripts: number }> {
  const info = await counter.info('commandstats');
  let all = 0;
  let scripts = 0;
  for (const match of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
    if (match[1] === 'info') continue;
    all += Number(match[2]);
    if (match[1] === 'evalsha' || match[1] === 'eval') scripts += Number(match[2]);
  }
  return { all, scripts };
}

/** Script calls (store round trips) so far. */
async function commands(): Promise<number> {
  return (await commandStats()).scripts;
}

function ok(_req: IncomingMessage, res: ServerResponse): void {
  res.end('ok');
}

const quiet = { warn: () => undefined };
const CLIENTS = [
  ['ioredis', () => io as RedisClientLike],
  ['node-redis', () => nodeRedis as unknown as RedisClientLike],
] as const;
const CASES = CLIENTS.flatMap(([name, client]) =>
  (['express4', 'express5'] as const).map((flavour) => [flavour, name, client] as const),
);

let prefixes = 0;
function limiter(client: RedisClientLike, options: Partial<RateLimitOptions> = {}) {
  return rateLimit({
    rate: 1,
    interval: '1h',
    burst: 1,
    penalty: { after: 1, duration: '1h' },
    store: new RedisStore({ client, prefix: `attack-${++prefixes}:` }),
    key: (req) => String(req.headers['x-client']),
    logger: quiet,
    ...options,
  });
}

describe('attack mode: blocked keys are rejected in process', () => {
  it.each(CASES)(
    '%s with %s: a flood from blocked keys issues no Redis command after each key’s first block',
    async (flavour, _name, client) => {
      const limit = limiter(client());
      const a = await mount(flavour, { use: [limit], handler: ok });
      const keys = Array.from({ length: 20 }, (_, i) => `client-${i}`);
      for (const key of keys) {
        expect((await request(a.url).get('/').set('x-client', key)).status).toBe(200);
        const blocked = await request(a.url).get('/').set('x-client', key);
        expect(blocked.status).toBe(429);
        expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(3590);
      }
      const before = await commands();
      const allBefore = (await commandStats()).all;
      for (let round = 0; round < 10; round++)
        for (const key of keys) {
          const res = await request(a.url).get('/').set('x-client', key);
          expect(res.status).toBe(429);
          expect(res.body.code).toBe('RATE_LIMIT_EXCEEDED');
          expect(res.body.message).toMatch(/blocked, retry in \d+ s/);
          expect(Number(res.headers['retry-after'])).toBeGreaterThan(3590);
          expect(res.headers.ratelimit).toMatch(/^"default";r=0;t=\d+$/);
        }
      expect((await commandStats()).all - allBefore).toBe(0);
      expect(limit.stats.blocked).toBe(20 + 200);
      // A key never blocked still goes to Redis.
      expect((await request(a.url).get('/').set('x-client', 'fresh')).status).toBe(200);
      expect((await commands()) - before).toBe(1);
    },
  );

  it('remembers at most penalty.remember keys, the most recently blocked', async () => {
    const limit = limiter(io, { penalty: { after: 1, duration: '1h', remember: 5 } });
    const a = await mount('express5', { use: [limit], handler: ok });
    for (let i = 0; i < 10; i++) {
      await request(a.url).get('/').set('x-client', `k${i}`);
      expect((await request(a.url).get('/').set('x-client', `k${i}`)).status).toBe(429);
    }
    const before = await commands();
    for (let i = 5; i < 10; i++)
      expect((await request(a.url).get('/').set('x-client', `k${i}`)).status).toBe(429);
    expect((await commands()) - before).toBe(0);
    expect((await request(a.url).get('/').set('x-client', 'k0')).status).toBe(429);
    expect((await commands()) - before).toBe(1);
  });

  it('penalty.remember: 0 asks Redis for every request', async () => {
    const limit = limiter(io, { penalty: { after: 1, duration: '1h', remember: 0 } });
    const a = await mount('express5', { use: [limit], handler: ok });
    await request(a.url).get('/').set('x-client', 'x');
    await request(a.url).get('/').set('x-client', 'x');
    const before = await commands();
    for (let i = 0; i < 5; i++)
      expect((await request(a.url).get('/').set('x-client', 'x')).status).toBe(429);
    expect((await commands()) - before).toBe(5);
  });

  it('a key whose block ended goes to Redis again and is admitted', async () => {
    const limit = limiter(io, {
      rate: 1,
      interval: '100ms',
      penalty: { after: 1, duration: '300ms' },
    });
    const a = await mount('express5', { use: [limit], handler: ok });
    expect((await request(a.url).get('/').set('x-client', 'y')).status).toBe(200);
    expect((await request(a.url).get('/').set('x-client', 'y')).status).toBe(429);
    let status = 429;
    for (let i = 0; i < 100 && status === 429; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      status = (await request(a.url).get('/').set('x-client', 'y')).status;
    }
    expect(status).toBe(200);
  });

  it('validates penalty.remember', () => {
    expect(() =>
      rateLimit({ penalty: { after: 1, duration: 1000, remember: -1 }, logger: quiet }),
    ).toThrow(/penalty\.remember/);
  });
});

describe('cost above burst on a RedisStore', () => {
  it.each(CLIENTS)(
    '%s: answered without a Redis command, nothing charged',
    async (_name, client) => {
      const limit = limiter(client(), {
        burst: 3,
        cost: (req) => Number(req.headers['x-cost'] ?? 1),
      });
      const a = await mount('express5', { use: [limit], handler: ok });
      const before = await commandStats();
      for (let i = 0; i < 5; i++) {
        const res = await request(a.url).get('/').set('x-client', 'big').set('x-cost', '4');
        expect(res.status).toBe(429);
        expect(res.body.code).toBe('RATE_LIMIT_COST_EXCEEDS_BURST');
        expect(res.headers['retry-after']).toBeUndefined();
      }
      expect((await commandStats()).all - before.all).toBe(0);
      // The bucket is whole: three unit requests are admitted.
      for (let i = 0; i < 3; i++)
        expect((await request(a.url).get('/').set('x-client', 'big')).status).toBe(200);
    },
  );
});
