import IORedis from 'ioredis';
import { createClient } from 'redis';
import { MemoryStore, RedisStore } from '../../src/rate-limit';
import type { Policy, RateLimitStore } from '../../src/rate-limit/policy';
import { type RedisServer, startRedis } from '../helpers/redis';

/**
 * One suite, every store. Redis uses its own clock, so the policies here
 * refill so slowly (one token per hour) that time passing during a test
 * cannot change an answer.
 */
const HOUR = 3_600_000;
const slow = (burst: number): Policy => ({ emission: HOUR, burst, penalty: undefined });

let redis: RedisServer;
let io: IORedis;
let nodeRedis: ReturnType<typeof createClient>;
let keyCounter = 0;

beforeAll(async () => {
  redis = await startRedis();
  io = new IORedis(redis.port, '127.0.0.1', { lazyConnect: false });
  nodeRedis = createClient({ url: redis.url });
  await nodeRedis.connect();
});

afterAll(async () => {
  io.disconnect();
  await nodeRedis.close();
  await redis.stop();
});

const STORES: [string, () => RateLimitStore][] = [
  ['MemoryStore', () => new MemoryStore()],
  ['RedisStore(ioredis)', () => new RedisStore({ client: io, prefix: 'conf:' })],
  ['RedisStore(node-redis)', () => new RedisStore({ client: nodeRedis, prefix: 'conf:' })],
  [
    'RedisStore(sendCommand)',
    () =>
      new RedisStore({
        client: (args: string[]) => io.call(args[0] ?? '', ...args.slice(1)),
        prefix: 'conf:',
      }),
  ],
];

describe.each(STORES)('%s conformance', (_name, make) => {
  let store: RateLimitStore;
  let key: string;
  beforeEach(() => {
    store = make();
    key = `key-${++keyCounter}`;
  });
  afterEach(async () => {
    await store.close();
  });

  it('a fresh key admits exactly burst, then rejects with a retry time', async () => {
    const results = [];
    for (let i = 0; i < 7; i++) results.push(await store.consume(key, 1, slow(5)));
    expect(results.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false]);
    expect(results.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0, 0, 0]);
    const last = results[6];
    expect(last?.retryAfter).toBeGreaterThan(HOUR - 60_000);
    expect(last?.retryAfter).toBeLessThanOrEqual(HOUR);
    expect(last?.reset).toBeGreaterThan(5 * HOUR - 60_000);
  });

  it('admits exactly burst when the requests are concurrent', async () => {
    const all = await Promise.all(
      Array.from({ length: 50 }, () => store.consume(key, 1, slow(20))),
    );
    expect(all.filter((d) => d.allowed)).toHaveLength(20);
  });

  it('a rejected request consumes nothing', async () => {
    expect((await store.consume(key, 3, slow(4))).allowed).toBe(true);
    expect((await store.consume(key, 2, slow(4))).allowed).toBe(false);
    expect((await store.consume(key, 2, slow(4))).allowed).toBe(false);
    expect(await store.consume(key, 1, slow(4))).toMatchObject({ allowed: true, remaining: 0 });
  });

  it('refund gives the cost back', async () => {
    await store.consume(key, 2, slow(2));
    expect((await store.consume(key, 1, slow(2))).allowed).toBe(false);
    await store.refund(key, 1, slow(2));
    expect(await store.consume(key, 1, slow(2))).toMatchObject({ allowed: true, remaining: 0 });
    await store.refund('never-seen', 1, slow(2));
  });

  it('penalty box: blocks after consecutive rejections, escalating', async () => {
    const p: Policy = {
      emission: HOUR,
      burst: 1,
      penalty: { after: 2, duration: 10 * HOUR, escalate: 2, max: 100 * HOUR },
    };
    expect((await store.consume(key, 1, p)).allowed).toBe(true);
    expect(await store.consume(key, 1, p)).toMatchObject({ allowed: false, blocked: 0 });
    const blocked = await store.consume(key, 1, p);
    expect(blocked.allowed).toBe(false);
    expect(blocked.blocked).toBeGreaterThan(10 * HOUR - 60_000);
    expect(blocked.retryAfter).toBe(blocked.blocked);
    const again = await store.consume(key, 1, p);
    expect(again.blocked).toBeGreaterThan(0);
    expect(again.blocked).toBeLessThanOrEqual(blocked.blocked);
  });

  it('keys are independent', async () => {
    await store.consume(key, 1, slow(1));
    expect((await store.consume(key, 1, slow(1))).allowed).toBe(false);
    expect((await store.consume(`${key}-other`, 1, slow(1))).allowed).toBe(true);
  });
});

describe('RedisStore specifics', () => {
  it('keys carry the prefix and expire (PEXPIRE)', async () => {
    const store = new RedisStore({ client: io, prefix: 'pfx:' });
    await store.consume('abc', 1, { emission: 60_000, burst: 10, penalty: undefined });
    const ttl = await io.pttl('pfx:abc');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('falls back to EVAL when the script cache was flushed (NOSCRIPT)', async () => {
    for (const client of [io, nodeRedis]) {
      const store = new RedisStore({ client, prefix: `noscript-${keyCounter++}:` });
      await io.script('FLUSH');
      expect((await store.consume('k', 1, slow(1))).allowed).toBe(true);
      expect((await store.consume('k', 1, slow(1))).allowed).toBe(false);
    }
  });

  it('rejects clients it cannot use and unknown options', () => {
    expect(() => new RedisStore({ client: {} as never })).toThrow(/option client/);
    expect(() => new RedisStore({} as never)).toThrow(/client is required/);
    expect(() => new RedisStore({ client: io, prefixx: 'a' } as never)).toThrow(/unknown option/);
  });

  it('leaves no timeout timers behind once calls have answered', async () => {
    const store = new RedisStore({ client: io, prefix: 'timers:', timeout: 60_000 });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    await Promise.all(Array.from({ length: 20 }, () => store.consume('k', 1, slow(5))));
    // 20 calls: a leak would leave 20 timers; allow for unrelated ones coming and going.
    expect(timers()).toBeLessThan(before + 5);
  });

  it('calls in flight share one deadline timer, and close() fails those still waiting', async () => {
    const never = (): Promise<unknown> => new Promise(() => undefined);
    const store = new RedisStore({ client: never, timeout: 60_000 });
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const calls = Array.from({ length: 200 }, (_, i) => store.consume(`k${i}`, 1, slow(1)));
    // A timer per call would be 200 more.
    expect(timers()).toBeLessThan(before + 5);
    store.close();
    const results = await Promise.allSettled(calls);
    expect(results.every((r) => r.status === 'rejected' && /closed/.test(String(r.reason)))).toBe(
      true,
    );
  });

  it('a call fails once its timeout has passed, not before', async () => {
    const never = (): Promise<unknown> => new Promise(() => undefined);
    const store = new RedisStore({ client: never, timeout: 200 });
    const started = performance.now();
    await expect(store.consume('k', 1, slow(1))).rejects.toThrow(/within 200 ms/);
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(195);
    // 250 ms is the bound on an idle machine; a loaded one's timers run late, never early.
    // This only catches a call that never fails (or waits many timeouts), not lateness.
    expect(took).toBeLessThan(15_000);
  });

  it('a call that takes longer than timeout fails', async () => {
    const never = (): Promise<unknown> => new Promise(() => undefined);
    const store = new RedisStore({ client: never, timeout: 20 });
    await expect(store.consume('k', 1, slow(1))).rejects.toThrow(/did not answer/);
  });
});
