/**
 * Several limits in one check vs one limit, on a real redis-server, ioredis:
 * `RedisStore.consume` (one limit) against `RedisStore.consumeLimits` with
 * three limits (1s / 1m / 1h, the example), both one Lua call per
 * decision. 64 decisions in flight, limits high enough that nothing is
 * rejected, rounds alternating. Prints decisions/s and this process's CPU per
 * decision, and the ratio three/one (goal: costs < 1.3x one limit).
 * `BENCH_SECONDS` per round (default 2), `BENCH_ROUNDS` (default 2).
 *
 *   npx tsx bench/rate-limit/limits.ts
 */
import IORedis from 'ioredis';
import { startRedis } from '../../__tests__/helpers/redis';
import { type LimitsPolicy, type Policy, RedisStore } from '../../src/rate-limit';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const IN_FLIGHT = 64;
const HUGE = 1_000_000_000;

const one: Policy = { emission: 1000 / HUGE, burst: HUGE, penalty: undefined };
const three: LimitsPolicy = {
  limits: [
    { name: '1s', emission: 1000 / HUGE, burst: HUGE },
    { name: '1m', emission: 60_000 / HUGE, burst: HUGE },
    { name: '1h', emission: 3_600_000 / HUGE, burst: HUGE },
  ],
  penalty: undefined,
};

async function round(
  decide: (key: string) => Promise<unknown>,
): Promise<{ perSecond: number; cpuUs: number }> {
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  const cpu = process.cpuUsage();
  const started = performance.now();
  async function worker(w: number): Promise<void> {
    while (performance.now() < end) {
      await decide(`k${w}-${done % 100}`);
      done++;
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, (_, w) => worker(w)));
  const used = process.cpuUsage(cpu);
  const elapsed = (performance.now() - started) / 1000;
  return { perSecond: done / elapsed, cpuUs: (used.user + used.system) / done };
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const client = new IORedis(redis.port, '127.0.0.1');
  const store = new RedisStore({ client, prefix: 'bench:' });
  const results: Record<'one' | 'three', { perSecond: number; cpuUs: number }[]> = {
    one: [],
    three: [],
  };
  try {
    for (let r = 0; r < ROUNDS; r++) {
      results.one.push(await round((key) => store.consume(key, 1, one)));
      results.three.push(await round((key) => store.consumeLimits(key, 1, three)));
    }
  } finally {
    store.close();
    client.disconnect();
    await redis.stop();
  }
  const mean = (xs: { perSecond: number; cpuUs: number }[], f: 'perSecond' | 'cpuUs') =>
    xs.reduce((s, x) => s + x[f], 0) / xs.length;
  const oneRate = mean(results.one, 'perSecond');
  const threeRate = mean(results.three, 'perSecond');
  const oneCpu = mean(results.one, 'cpuUs');
  const threeCpu = mean(results.three, 'cpuUs');
  console.log(`one limit:    ${oneRate.toFixed(0)} decisions/s, ${oneCpu.toFixed(1)} µs CPU each`);
  console.log(
    `three limits: ${threeRate.toFixed(0)} decisions/s, ${threeCpu.toFixed(1)} µs CPU each`,
  );
  console.log(
    `three/one: time per decision ${(oneRate / threeRate).toFixed(2)}x, client CPU per decision ${(threeCpu / oneCpu).toFixed(2)}x (goal < 1.3x)`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
