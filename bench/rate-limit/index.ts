/**
 * rateLimit overhead against its peers, one run: each server in its own
 * child process (bare Express, streamguard, express-rate-limit,
 * rate-limiter-flexible; memory and Redis stores; and `noop`, an empty
 * middleware: the floor any extra layer costs), loaded by autocannon from
 * this process. Prints req/s and p99 latency, and both as ratios to bare
 * Express, plus the server's CPU time per request (steadier than req/s on
 * a shared machine) as a ratio. `BENCH_SECONDS` (default 3) per case and round, `BENCH_ROUNDS`
 * (default 3, interleaved, medians reported), `BENCH_CONNECTIONS` (default 50).
 *
 *   npx tsx bench/rate-limit/index.ts
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { startRedis } from '../../__tests__/helpers/redis';
import { pin } from '../cpu';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
// The server under test gets a core of its own; autocannon (and redis-server)
// share the other.
const LOAD_CPU = 0;
const SERVER_CPU = 1;
const ALL_VARIANTS = [
  'bare',
  'noop',
  'streamguard-memory',
  'express-rate-limit-memory',
  'rate-limiter-flexible-memory',
  'streamguard-redis',
  'express-rate-limit-redis',
  'rate-limiter-flexible-redis',
];
// BENCH_VARIANTS=bare,streamguard-memory runs a subset (bare always first).
const VARIANTS = process.env.BENCH_VARIANTS
  ? ['bare', ...process.env.BENCH_VARIANTS.split(',').filter((v) => v !== 'bare')]
  : ALL_VARIANTS;

interface Result {
  variant: string;
  rps: number;
  p99: number;
  /** Server CPU microseconds per request. */
  cpu: number;
  non2xx: number;
}

/** The child's CPU time so far (user + system, µs). */
function cpuOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (m: { cpu: number }) => resolve(m.cpu));
    child.send('cpu');
  });
}

function startServer(
  variant: string,
  redisPort: number,
): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'server.ts')], {
    env: {
      ...process.env,
      VARIANT: variant,
      REDIS_PORT: String(redisPort),
      NODE_ENV: 'production',
    },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => {
      pin(child.pid, SERVER_CPU);
      resolve({ child, port: Number(chunk.toString().trim()) });
    });
    child.once('exit', (code) => reject(new Error(`${variant} server exited with ${code}`)));
  });
}

function load(url: string, duration: number): Promise<autocannon.Result> {
  return autocannon({ url, connections: CONNECTIONS, duration, pipelining: 1 });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function main(): Promise<void> {
  const pinned = pin(process.pid, LOAD_CPU);
  const redis = await startRedis();
  pin(redis.pid, LOAD_CPU);
  const servers = new Map<string, { child: ChildProcess; port: number }>();
  const samples = new Map<
    string,
    { rps: number[]; p99: number[]; cpu: number[]; non2xx: number }
  >();
  try {
    for (const variant of VARIANTS) {
      servers.set(variant, await startServer(variant, redis.port));
      samples.set(variant, { rps: [], p99: [], cpu: [], non2xx: 0 });
    }
    for (const variant of VARIANTS)
      await load(`http://127.0.0.1:${servers.get(variant)?.port}/`, 1);
    // Interleaved rounds: a burst of noise from the other tenants of this
    // machine hits every variant alike instead of one of them. Each round
    // starts one variant later, so no variant always runs first (bare did,
    // and measured fastest in every round) or always after the same one.
    for (let round = 0; round < ROUNDS; round++) {
      const shift = round % VARIANTS.length;
      for (const variant of [...VARIANTS.slice(shift), ...VARIANTS.slice(0, shift)]) {
        const server = servers.get(variant);
        if (server === undefined) continue;
        const cpuBefore = await cpuOf(server.child);
        const r = await load(`http://127.0.0.1:${server.port}/`, SECONDS);
        const cpuAfter = await cpuOf(server.child);
        const s = samples.get(variant);
        s?.cpu.push((cpuAfter - cpuBefore) / Math.max(r.requests.total, 1));
        s?.rps.push(r.requests.average);
        s?.p99.push(r.latency.p99);
        if (s !== undefined) s.non2xx += r.non2xx;
        console.error(
          `round ${round + 1} ${variant}: ${Math.round(r.requests.average)} req/s, p99 ${r.latency.p99} ms`,
        );
      }
    }
  } finally {
    await Promise.all(
      [...servers.values()].map(
        ({ child }) =>
          new Promise<void>((resolve) => {
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
    await redis.stop();
  }
  const results: Result[] = VARIANTS.map((variant) => {
    const s = samples.get(variant);
    return {
      variant,
      rps: median(s?.rps ?? []),
      p99: median(s?.p99 ?? []),
      cpu: median(s?.cpu ?? []),
      non2xx: s?.non2xx ?? 0,
    };
  });
  const bare = results[0] as Result;
  // CPU beyond the empty middleware: what the limiter itself costs a request.
  const noop = results.find((r) => r.variant === 'noop');
  console.log(
    `\nrateLimit overhead: median of ${ROUNDS} interleaved rounds of ${SECONDS}s, ${CONNECTIONS} connections (ratios to bare Express); ${pinned ? `servers pinned to CPU ${SERVER_CPU}, load to CPU ${LOAD_CPU}` : 'not pinned to CPUs'}\n`,
  );
  console.log(
    'variant                         req/s   ratio   p99 ms   p99 ratio   CPU µs/req   CPU ratio   µs over noop   non-2xx',
  );
  for (const r of results) {
    console.log(
      [
        r.variant.padEnd(30),
        String(Math.round(r.rps)).padStart(6),
        `${(r.rps / bare.rps).toFixed(2)}x`.padStart(7),
        String(r.p99).padStart(8),
        `${(r.p99 / Math.max(bare.p99, 1)).toFixed(2)}x`.padStart(11),
        r.cpu.toFixed(1).padStart(12),
        `${(bare.cpu / r.cpu).toFixed(2)}x`.padStart(11),
        (noop === undefined ? '-' : (r.cpu - noop.cpu).toFixed(1)).padStart(14),
        String(r.non2xx).padStart(9),
      ].join(' '),
    );
  }
  console.log(
    "\nCPU ratio = bare CPU per request / this CPU per request (1.00x = free); the steadiest figure on a shared machine. µs over noop = this CPU per request minus the empty middleware's: the limiter's own work.",
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
