import type { IncomingMessage, ServerResponse } from 'node:http';
import IORedis from 'ioredis';
import { createClient } from 'redis';
import { parseList } from 'structured-headers';
import request from 'supertest';
import type { RedisClientLike } from '../../src/core/redis';
import {
  type LimitsPolicy,
  MemoryStore,
  type MultiLimitStore,
  type RateLimitInfo,
  type RateLimitOptions,
  RedisStore,
  rateLimit,
} from '../../src/rate-limit';
import { mount } from '../helpers/harness';
import { type RedisServer, startRedis } from '../helpers/redis';

/** Several limits in one atomic check (issue 17), on every store and both Redis clients. */
const HOUR = 3_600_000;

let redis: RedisServer;
let io: IORedis;
let counter: IORedis;
let nodeRedis: ReturnType<typeof createClient>;
let keys = 0;

beforeAll(async () => {
  redis = await startRedis();
  io = new IORedis(redis.port, '127.0.0.1');
  counter = new IORedis(redis.port, '127.0.0.1');
  nodeRedis = createClient({ url: redis.url });
  await nodeRedis.connect();
});

afterAll(async () => {
  io.disconnect();
  counter.disconnect();
  await nodeRedis.quit();
  await redis.stop();
});

/** Script calls (EVALSHA/EVAL) the server has run so far. */
async function scriptCalls(): Promise<number> {
  const info = await counter.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) n += Number(m[2]);
  return n;
}

const two = (a: number, b: number, penalty?: LimitsPolicy['penalty']): LimitsPolicy => ({
  limits: [
    { name: 'a', emission: HOUR, burst: a },
    { name: 'b', emission: HOUR, burst: b },
  ],
  penalty,
});

const STORES: [string, () => MultiLimitStore][] = [
  ['MemoryStore', () => new MemoryStore()],
  ['RedisStore(ioredis)', () => new RedisStore({ client: io, prefix: 'lim:' })],
  [
    'RedisStore(node-redis)',
    () => new RedisStore({ client: nodeRedis as unknown as RedisClientLike, prefix: 'lim:' }),
  ],
];

describe.each(STORES)('%s consumeLimits', (_name, make) => {
  let store: MultiLimitStore;
  let key: string;
  beforeEach(() => {
    store = make();
    key = `k${++keys}`;
  });
  afterEach(async () => {
    await store.close();
  });

  it('admits only while every limit admits; a rejection charges no limit', async () => {
    const p = two(5, 3);
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await store.consumeLimits(key, 1, p));
    expect(results.map((d) => d.allowed)).toEqual([true, true, true, false, false]);
    expect(results[2]?.limits.map((l) => l.remaining)).toEqual([2, 0]);
    // The rejected requests took nothing from limit a: it still has 2.
    expect(results[4]?.limits.map((l) => l.remaining)).toEqual([2, 0]);
    expect(results[4]?.retryAfter).toBeGreaterThan(HOUR - 60_000);
    // A cost that fits a but not b is refused, and a keeps its 2.
    await store.refundLimits(key, 1, p);
    expect(await store.consumeLimits(key, 2, p)).toMatchObject({ allowed: false });
    expect(await store.consumeLimits(key, 1, p)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('is atomic under concurrency: exactly the tightest burst admitted', async () => {
    const p = two(20, 7);
    const all = await Promise.all(Array.from({ length: 40 }, () => store.consumeLimits(key, 1, p)));
    expect(all.filter((d) => d.allowed)).toHaveLength(7);
    const after = await store.consumeLimits(key, 1, p);
    expect(after.limits.map((l) => l.remaining)).toEqual([13, 0]);
  });

  it('the penalty box counts rejections from any limit and blocks the key', async () => {
    const p = two(1, 5, { after: 2, duration: 10 * HOUR, escalate: 1, max: 10 * HOUR });
    expect((await store.consumeLimits(key, 1, p)).allowed).toBe(true);
    expect(await store.consumeLimits(key, 1, p)).toMatchObject({ allowed: false, blocked: 0 });
    const blocked = await store.consumeLimits(key, 1, p);
    expect(blocked.blocked).toBeGreaterThan(10 * HOUR - 60_000);
    expect(blocked.retryAfter).toBe(blocked.blocked);
    const again = await store.consumeLimits(key, 1, p);
    expect(again.allowed).toBe(false);
    expect(again.blocked).toBeGreaterThan(0);
  });
});

describe('RedisStore: several limits in one round trip', () => {
  it.each([
    ['ioredis', () => io as RedisClientLike],
    ['node-redis', () => nodeRedis as unknown as RedisClientLike],
  ])('%s: one script call and one key per decision, with a TTL', async (_n, client) => {
    const store = new RedisStore({ client: client(), prefix: 'one:' });
    const p: LimitsPolicy = {
      limits: [
        { name: '1s', emission: 200, burst: 5 },
        { name: '1m', emission: 800, burst: 75 },
        { name: '1h', emission: 4800, burst: 750 },
      ],
      penalty: undefined,
    };
    await store.consumeLimits('warm', 1, p);
    const before = await scriptCalls();
    for (let i = 0; i < 10; i++) await store.consumeLimits(`rt${keys}`, 1, p);
    expect((await scriptCalls()) - before).toBe(10);
    expect(await io.keys(`one:rt${keys}*`)).toEqual([`one:rt${keys}`]);
    const ttl = await io.pttl(`one:rt${keys}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(10 * 4800 + 1);
    keys++;
  });
});

function locals(_req: IncomingMessage, res: ServerResponse): void {
  const info = (res as ServerResponse & { locals?: { rateLimit?: RateLimitInfo } }).locals
    ?.rateLimit;
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(info ?? null));
}

const quiet = { warn: () => undefined };
const FLAVOURS = ['express4', 'express5'] as const;
const MIDDLEWARE_STORES: [string, () => MultiLimitStore][] = [
  ['memory', () => new MemoryStore()],
  ['ioredis', () => new RedisStore({ client: io, prefix: `mw${keys++}:` })],
  [
    'node-redis',
    () =>
      new RedisStore({
        client: nodeRedis as unknown as RedisClientLike,
        prefix: `mw${keys++}:`,
      }),
  ],
];

describe.each(FLAVOURS)('rateLimit({ limits }) on %s', (flavour) => {
  describe.each(MIDDLEWARE_STORES)('with %s', (_s, makeStore) => {
    function limiter(options: RateLimitOptions = {}) {
      return rateLimit({
        limits: [
          { rate: 3, interval: '1h', name: 'short' },
          { rate: 5, interval: '1d', burst: 5, name: 'long' },
        ],
        store: makeStore(),
        logger: quiet,
        ...options,
      });
    }

    it('lists every named policy in RateLimit-Policy and RateLimit; the 429 too', async () => {
      const a = await mount(flavour, { use: [limiter()], handler: locals });
      const first = await request(a.url).get('/');
      expect(first.status).toBe(200);
      const policy = parseList(String(first.headers['ratelimit-policy']));
      expect(policy.map(([name]) => String(name))).toEqual(['short', 'long']);
      expect(policy.map(([, p]) => p.get('q'))).toEqual([3, 5]);
      const items = parseList(String(first.headers.ratelimit));
      expect(items.map(([name, p]) => [String(name), p.get('r')])).toEqual([
        ['short', 2],
        ['long', 4],
      ]);
      expect(
        first.body.limits.map((l: { name: string; remaining: number }) => l.remaining),
      ).toEqual([2, 4]);
      await request(a.url).get('/');
      await request(a.url).get('/');
      const over = await request(a.url).get('/');
      expect(over.status).toBe(429);
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(1000);
      expect(
        parseList(String(over.headers.ratelimit)).map(([n, p]) => [String(n), p.get('r')]),
      ).toEqual([
        ['short', 0],
        ['long', 2],
      ]);
    });

    it('penalty box works across limits', async () => {
      const a = await mount(flavour, {
        use: [limiter({ penalty: { after: 2, duration: '2h', remember: 0 } })],
        handler: locals,
      });
      for (let i = 0; i < 3; i++) expect((await request(a.url).get('/')).status).toBe(200);
      expect((await request(a.url).get('/')).status).toBe(429);
      const blocked = await request(a.url).get('/');
      expect(blocked.status).toBe(429);
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(7000);
    });
  });

  it('stacked limiters (global + route) both appear in the headers, also on the 429', async () => {
    const global = rateLimit({ rate: 10, interval: '1h', name: 'global', logger: quiet });
    const route = rateLimit({ rate: 1, interval: '1h', name: 'route', logger: quiet });
    const a = await mount(flavour, { use: [global, route], handler: locals });
    const ok = await request(a.url).get('/');
    expect(ok.status).toBe(200);
    expect(parseList(String(ok.headers['ratelimit-policy'])).map(([n]) => String(n))).toEqual([
      'global',
      'route',
    ]);
    expect(
      parseList(String(ok.headers.ratelimit)).map(([n, p]) => [String(n), p.get('r')]),
    ).toEqual([
      ['global', 9],
      ['route', 0],
    ]);
    const over = await request(a.url).get('/');
    expect(over.status).toBe(429);
    expect(
      parseList(String(over.headers.ratelimit)).map(([n, p]) => [String(n), p.get('r')]),
    ).toEqual([
      ['global', 8],
      ['route', 0],
    ]);
  });

  it('stacked draft-6 limiters list both policies and report the tighter remaining', async () => {
    const global = rateLimit({ rate: 10, interval: '1h', headers: 'draft-6', logger: quiet });
    const route = rateLimit({
      rate: 2,
      interval: '1h',
      name: 'route',
      headers: 'draft-6',
      logger: quiet,
    });
    const a = await mount(flavour, { use: [route, global], handler: locals });
    const ok = await request(a.url).get('/');
    expect(ok.headers['ratelimit-policy']).toBe('2;w=3600, 10;w=3600');
    expect(ok.headers['ratelimit-remaining']).toBe('1');
    expect(ok.headers['ratelimit-limit']).toBe('2');
  });
});

describe('limits options', () => {
  it('rejects bad limits with a TypeError naming the option', () => {
    expect(() => rateLimit({ limits: [] })).toThrow(/option limits must be a non-empty array/);
    expect(() => rateLimit({ limits: [{ rate: 1 }], rate: 5 })).toThrow(/option rate cannot/);
    expect(() => rateLimit({ limits: [{ rate: 0 }] })).toThrow(/limits\[0\]\.rate/);
    expect(() => rateLimit({ limits: [{ rate: 1, interval: -5 }] })).toThrow(
      /limits\[0\]\.interval/,
    );
    expect(() =>
      rateLimit({
        limits: [
          { rate: 1, interval: '1s' },
          { rate: 2, interval: '1s' },
        ],
      }),
    ).toThrow(/limits\[1\]\.name must be unique/);
    expect(() => rateLimit({ limits: [{ rate: 1, bogus: 1 } as never] })).toThrow(/unknown option/);
    const legacyStore = {
      consume: () => undefined,
      refund: () => undefined,
      close: () => undefined,
    };
    expect(() =>
      rateLimit({
        limits: [
          { rate: 1, interval: '1s' },
          { rate: 2, interval: '1m' },
        ],
        store: legacyStore as never,
      }),
    ).toThrow(/consumeLimits/);
  });

  it('a cost above the tightest burst can never be admitted', async () => {
    const a = await mount('express5', {
      use: [
        rateLimit({
          limits: [
            { rate: 10, interval: '1s', name: 's' },
            { rate: 4, interval: '1m', name: 'm' },
          ],
          cost: 5,
          logger: quiet,
        }),
      ],
      handler: locals,
    });
    const res = await request(a.url).get('/');
    expect(res.status).toBe(429);
    expect(res.body.code).toBe('RATE_LIMIT_COST_EXCEEDS_BURST');
  });
});
