/**
 * Attack mode, one run: a flood from 1,000 keys already in the penalty box,
 * against streamguard with a RedisStore, attack mode on (`penalty.remember`,
 * the default) and off (`remember: 0`, every request asks Redis, as before
 * issue 17). Each server in its own child process, loaded by autocannon from
 * this process with the X-Client header rotating over the keys. Prints Redis
 * script calls (store round trips) and all Redis commands per rejected
 * request, from INFO commandstats, and req/s and server CPU per request as
 * ratios on/off. `BENCH_SECONDS` (default 3), `BENCH_CONNECTIONS` (default 50).
 *
 *   npm run build && npx tsx bench/rate-limit/attack.ts
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import autocannon from 'autocannon';
import IORedis from 'ioredis';
import { startRedis } from '../../__tests__/helpers/redis';
import { pin } from '../cpu';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const KEYS = 1000;
const VARIANTS = ['streamguard-redis-attack-off', 'streamguard-redis-attack'] as const;

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
      pin(child.pid, 1);
      resolve({ child, port: Number(chunk.toString().trim()) });
    });
    child.once('exit', (code) => reject(new Error(`${variant} server exited with ${code}`)));
  });
}

function cpuOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (m: { cpu: number }) => resolve(m.cpu));
    child.send('cpu');
  });
}

async function commandStats(redis: IORedis): Promise<{ all: number; scripts: number }> {
  const info = await redis.info('commandstats');
  let all = 0;
  let scripts = 0;
  for (const match of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) {
    if (match[1] === 'info') continue;
    all += Number(match[2]);
    if (match[1] === 'evalsha' || match[1] === 'eval') scripts += Number(match[2]);
  }
  return { all, scripts };
}

/** Every key: one admitted request, one that puts it in the box. */
async function blockAll(port: number): Promise<void> {
  for (let i = 0; i < KEYS; i++)
    for (let n = 0; n < 2; n++) {
      const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { 'x-client': `k${i}` } });
      await res.arrayBuffer();
    }
}

function flood(port: number): Promise<autocannon.Result> {
  let next = 0;
  return autocannon({
    url: `http://127.0.0.1:${port}/`,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: [
      {
        setupRequest(request) {
          next = (next + 1) % KEYS;
          return { ...request, headers: { ...request.headers, 'x-client': `k${next}` } };
        },
      },
    ],
  });
}

async function main(): Promise<void> {
  pin(process.pid, 0);
  const redis = await startRedis();
  pin(redis.pid, 0);
  const stats = new IORedis(redis.port, '127.0.0.1');
  const rows: {
    variant: string;
    rps: number;
    cpu: number;
    scripts: number;
    all: number;
    rejected: number;
  }[] = [];
  const servers: ChildProcess[] = [];
  try {
    for (const variant of VARIANTS) {
      const { child, port } = await startServer(variant, redis.port);
      servers.push(child);
      await blockAll(port);
      const before = await commandStats(stats);
      const cpuBefore = await cpuOf(child);
      const r = await flood(port);
      const cpuAfter = await cpuOf(child);
      const after = await commandStats(stats);
      const rejected = r.non2xx;
      rows.push({
        variant,
        rps: r.requests.average,
        cpu: (cpuAfter - cpuBefore) / Math.max(r.requests.total, 1),
        scripts: (after.scripts - before.scripts) / Math.max(rejected, 1),
        all: (after.all - before.all) / Math.max(rejected, 1),
        rejected,
      });
    }
  } finally {
    for (const child of servers) child.kill('SIGTERM');
    stats.disconnect();
    await redis.stop();
  }
  console.log(
    `\nattack mode: ${KEYS} blocked keys, ${SECONDS}s flood, ${CONNECTIONS} connections\n`,
  );
  console.log(
    'variant                          rejected   req/s   script calls/req   redis cmds/req   CPU µs/req',
  );
  for (const row of rows)
    console.log(
      [
        row.variant.padEnd(30),
        String(row.rejected).padStart(10),
        String(Math.round(row.rps)).padStart(7),
        row.scripts.toFixed(3).padStart(18),
        row.all.toFixed(3).padStart(16),
        row.cpu.toFixed(1).padStart(12),
      ].join(' '),
    );
  const [off, on] = rows as [(typeof rows)[0], (typeof rows)[0]];
  console.log(
    `\non/off: req/s ${(on.rps / off.rps).toFixed(2)}x, CPU per request ${(on.cpu / off.cpu).toFixed(2)}x, Redis commands per rejected request ${on.all.toFixed(3)} vs ${off.all.toFixed(3)}`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
