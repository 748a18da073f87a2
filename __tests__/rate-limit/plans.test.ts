import type { IncomingMessage, ServerResponse } from 'node:http';
import IORedis from 'ioredis';
import { createClient } from 'redis';
import { parseList } from 'structured-headers';
import request from 'supertest';
import type { RedisClientLike } from '../../src/core/redis';
import { MemoryStore, type RateLimitStore, RedisStore, rateLimit } from '../../src/rate-limit';
import { mount } from '../helpers/harness';
import { type RedisServer, startRedis } from '../helpers/redis';

/** Plans (issue 17): the limits of a request chosen per request, validated in the factory. */
let redis: RedisServer;
let io: IORedis;
let nodeRedis: ReturnType<typeof createClient>;
let n = 0;

beforeAll(async () => {
  redis = await startRedis();
  io = new IORedis(redis.port, '127.0.0.1');
  nodeRedis = createClient({ url: redis.url });
  await nodeRedis.connect();
});

afterAll(async () => {
  io.disconnect();
  await nodeRedis.quit();
  await redis.stop();
});

function ok(_req: IncomingMessage, res: ServerResponse): void {
  res.end('ok');
}

function planOf(req: IncomingMessage): string {
  return String(req.headers['x-plan']);
}

const STORES: [string, () => RateLimitStore][] = [
  ['memory', () => new MemoryStore()],
  ['ioredis', () => new RedisStore({ client: io, prefix: `plans${n++}:` })],
  [
    'node-redis',
    () =>
      new RedisStore({ client: nodeRedis as unknown as RedisClientLike, prefix: `plans${n++}:` }),
  ],
];

describe.each(['express4', 'express5'] as const)('plans on %s', (flavour) => {
  describe.each(STORES)('with %s', (_s, makeStore) => {
    it('each request gets its plan: own burst, own policy names, own buckets', async () => {
      const lines: string[] = [];
      const limiter = rateLimit({
        store: makeStore(),
        plan: planOf,
        plans: {
          basic: { rate: 2, interval: '1h' },
          premium: {
            limits: [
              { rate: 4, interval: '1h', name: 'hour' },
              { rate: 10, interval: '1d', name: 'day' },
            ],
          },
        },
        logger: { warn: (m: string) => void lines.push(m) },
      });
      const a = await mount(flavour, { use: [limiter], handler: ok });
      const basic = [];
      for (let i = 0; i < 3; i++) basic.push(await request(a.url).get('/').set('x-plan', 'basic'));
      expect(basic.map((r) => r.status)).toEqual([200, 200, 429]);
      expect(
        parseList(String(basic[0]?.headers['ratelimit-policy'])).map(([p]) => String(p)),
      ).toEqual(['basic']);
      const premium = [];
      for (let i = 0; i < 5; i++)
        premium.push(await request(a.url).get('/').set('x-plan', 'premium'));
      expect(premium.map((r) => r.status)).toEqual([200, 200, 200, 200, 429]);
      expect(
        parseList(String(premium[0]?.headers['ratelimit-policy'])).map(([p]) => String(p)),
      ).toEqual(['hour', 'day']);
      expect(limiter.stats.admitted).toBe(6);
      expect(limiter.stats.rejected).toBe(2);

      const bad = await request(a.url).get('/').set('x-plan', 'gold');
      expect(bad.status).toBe(500);
      expect(a.errors.at(-1)).toMatchObject({ type: 'rate.limit.plan.invalid', status: 500 });
      expect(lines.some((l) => /not one of the plans \(basic, premium\)/.test(l))).toBe(true);
    });
  });
});

describe('plans options', () => {
  it('are validated in the factory, naming the plan', () => {
    expect(() => rateLimit({ plans: { a: { rate: 1 } } })).toThrow(
      /option plan must be a function/,
    );
    expect(() => rateLimit({ plan: () => 'a', plans: {} })).toThrow(/option plans must be/);
    expect(() => rateLimit({ plan: () => 'a', plans: { a: { rate: -1 } } })).toThrow(
      /plans\.a: option rate/,
    );
    expect(() =>
      rateLimit({ plan: () => 'a', plans: { a: { rate: 1, bogus: 2 } as never } }),
    ).toThrow(/unknown option bogus/);
    expect(() => rateLimit({ plan: () => 'a', plans: { a: { rate: 1 } }, rate: 3 })).toThrow(
      /option rate cannot be given with plans/,
    );
  });
});
