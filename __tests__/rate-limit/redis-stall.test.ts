import type { ServerResponse } from 'node:http';
import IORedis from 'ioredis';
import request from 'supertest';
import { RedisTimeoutError } from '../../src/core/deadlines';
import { MemoryStore, RedisStore, rateLimit } from '../../src/rate-limit';
import { mount } from '../helpers/harness';
import { type RedisServer, startRedis } from '../helpers/redis';

/**
 * A stalled redis-server (SIGSTOP): the connection stays up, commands pile
 * up in its socket and run when the server resumes (SIGCONT).
 */
let redis: RedisServer;
let io: IORedis;

beforeAll(async () => {
  redis = await startRedis();
  io = new IORedis(redis.port, '127.0.0.1');
  io.on('error', () => undefined);
  await io.ping();
});

afterAll(async () => {
  resume();
  io.disconnect();
  await redis.stop();
});

let stopped = false;
function stall(): void {
  process.kill(redis.pid ?? 0, 'SIGSTOP');
  stopped = true;
}
function resume(): void {
  if (stopped) process.kill(redis.pid ?? 0, 'SIGCONT');
  stopped = false;
}

function recorder() {
  const lines: string[] = [];
  return { lines, warn: (m: string) => void lines.push(m) };
}

function localsHandler(_req: unknown, res: ServerResponse & { locals?: Record<string, unknown> }) {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(res.locals?.rateLimit ?? null));
}

/** Requests until one is decided by Redis again (the client reconnected, the breaker closed). */
async function untilRedisDecides(url: string): Promise<{ remaining: number }> {
  for (let i = 0; i < 200; i++) {
    const res = await request(url).get('/');
    if (res.status === 200 && res.body.fallback === false) return res.body;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('redis never decided again');
}

/** Retries while the breaker fails calls fast (the first of them starts the probe). */
async function untilStoreAnswers<T>(call: () => Promise<T>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    try {
      return await call();
    } catch (error) {
      if ((error as { code?: string }).code !== 'REDIS_UNAVAILABLE') throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the store never answered again');
}

describe('a call that timed out consumes nothing when Redis runs it later', () => {
  afterEach(resume);

  it('store: the late script is a no-op, the caller got a RedisTimeoutError', async () => {
    const store = new RedisStore({ client: io, prefix: 'stall-store:', timeout: 150 });
    const policy = { emission: 3_600_000, burst: 5, penalty: undefined };
    expect((await store.consume('warm', 1, policy)).remaining).toBe(4);
    stall();
    const late = await Promise.allSettled([
      store.consume('fresh', 1, policy),
      store.consume('warm', 1, policy),
    ]);
    expect(late.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((late[0] as PromiseRejectedResult).reason).toBeInstanceOf(RedisTimeoutError);
    resume();
    // Commands on one connection run in order: once PING answers, the
    // stalled scripts have run.
    await io.ping();
    expect(await io.exists('stall-store:fresh')).toBe(0);
    expect((await untilStoreAnswers(() => store.consume('warm', 1, policy))).remaining).toBe(3);
    store.close();
  });

  it('middleware: requests decided by the fallback during the stall are not charged to Redis', async () => {
    const store = new RedisStore({ client: io, prefix: 'stall-fb:', timeout: 150 });
    const limiter = rateLimit({
      rate: 1,
      interval: '1h',
      burst: 10,
      store,
      fallback: new MemoryStore(),
      logger: recorder(),
    });
    // Same store, same name: the 503s it answers would land in the same bucket.
    const deny = rateLimit({ rate: 1, interval: '1h', burst: 10, store, logger: recorder() });
    const fb = await mount('express5', { use: [limiter], handler: localsHandler });
    const dn = await mount('express5', { use: [deny], handler: localsHandler });
    expect((await request(fb.url).get('/')).body).toMatchObject({ fallback: false, remaining: 9 });
    stall();
    for (let i = 0; i < 3; i++)
      expect((await request(fb.url).get('/')).body).toMatchObject({ fallback: true });
    expect((await request(dn.url).get('/')).status).toBe(503);
    resume();
    await io.ping();
    // Charged once before the stall, once now: the three fallback decisions
    // and the 503 cost nothing in Redis.
    expect(await untilRedisDecides(fb.url)).toMatchObject({ remaining: 8 });
    store.close();
  });
});

describe('breaker: a stall costs one timeout, not one per request', () => {
  afterEach(resume);

  it('after a timeout requests go to the fallback without a store call until a probe succeeds', async () => {
    const sent: string[] = [];
    const client = (args: string[]) => {
      sent.push(args[0] ?? '');
      return io.call(args[0] ?? '', ...args.slice(1));
    };
    const store = new RedisStore({ client, prefix: 'breaker:', timeout: 300 });
    const logger = recorder();
    const limiter = rateLimit({
      rate: 1,
      interval: '1h',
      burst: 20,
      store,
      fallback: new MemoryStore(),
      logger,
    });
    const app = await mount('express5', { use: [limiter], handler: localsHandler });
    expect((await request(app.url).get('/')).body).toMatchObject({ fallback: false });
    sent.length = 0;
    stall();
    // The first request waits for the timeout; it opens the breaker.
    expect((await request(app.url).get('/')).body).toMatchObject({ fallback: true });
    const answers = await Promise.all(Array.from({ length: 10 }, () => request(app.url).get('/')));
    for (const res of answers) expect(res.body).toMatchObject({ fallback: true });
    // One script (the first request) and one probe in flight: no call per request.
    expect(sent).toEqual(['EVALSHA', 'PING']);
    expect(limiter.stats.fallbackDecisions).toBe(11);
    resume();
    const back = await untilRedisDecides(app.url);
    // Charged before the stall and now: nothing in between.
    expect(back).toMatchObject({ remaining: 18 });
    expect(logger.lines.map((l) => l.replace(/;.*/, ''))).toEqual([
      'rateLimit: store failed',
      'rateLimit: store recovered',
    ]);
    store.close();
  });

  it('a consume while the breaker is open fails at once with RedisUnavailableError', async () => {
    const store = new RedisStore({ client: io, prefix: 'breaker2:', timeout: 150 });
    const policy = { emission: 3_600_000, burst: 5, penalty: undefined };
    await store.consume('k', 1, policy);
    stall();
    await expect(store.consume('k', 1, policy)).rejects.toBeInstanceOf(RedisTimeoutError);
    await expect(store.consume('k', 1, policy)).rejects.toMatchObject({
      code: 'REDIS_UNAVAILABLE',
    });
    resume();
    await io.ping();
    store.close();
  });
});
