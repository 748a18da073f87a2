/**
 * responseTee benchmark: a 1 KiB JSON response and a 256 MiB stream, with and
 * without the tee, and through http-proxy-middleware (plain, with the tee, and
 * with its buffering `responseInterceptor`). Each server runs in its own child
 * process; prints throughput ratios and RSS growth.
 *
 *   npx tsx bench/tee/index.ts            # BENCH_SECONDS=3 per case by default
 *   BENCH_SECONDS=10 TEE_STREAM_BYTES=268435456 npx tsx bench/tee/index.ts
 */
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import autocannon from 'autocannon';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const STREAM_BYTES = Number(process.env.TEE_STREAM_BYTES ?? 256 * 1024 * 1024);
const MiB = 1024 * 1024;

interface Report {
  baseline: number;
  peak: number;
  maxRSS: number;
  records: number;
}

interface Result {
  variant: string;
  throughput: number;
  unit: string;
  rssGrowth: number;
  records: number;
}

function start(variant: string, payload: string): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(join(__dirname, 'server.ts'), [variant, payload], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, TEE_STREAM_BYTES: String(STREAM_BYTES) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: (m as { port: number }).port }));
    child.once('exit', (code) => reject(new Error(`${variant} server exited with ${code}`)));
  });
}

function stop(child: ChildProcess): Promise<Report> {
  return new Promise((resolve) => {
    child.once('message', (m) => {
      child.send('exit');
      resolve(m as Report);
    });
    child.send('report');
  });
}

function download(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const agent = new http.Agent({ keepAlive: false });
    http
      .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
        });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

async function streamCase(variant: string): Promise<Result> {
  const { child, port } = await start(variant, 'stream');
  await download(port); // warm-up
  const t0 = performance.now();
  let bytes = 0;
  do bytes += await download(port);
  while (performance.now() - t0 < SECONDS * 1000);
  const seconds = (performance.now() - t0) / 1000;
  const report = await stop(child);
  return {
    variant,
    throughput: bytes / MiB / seconds,
    unit: 'MiB/s',
    rssGrowth: report.peak - report.baseline,
    records: report.records,
  };
}

async function jsonCase(variant: string): Promise<Result> {
  const { child, port } = await start(variant, 'json');
  await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 10, duration: 1 });
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/`,
    connections: 10,
    pipelining: 1,
    duration: SECONDS,
  });
  const report = await stop(child);
  return {
    variant,
    throughput: result.requests.average,
    unit: 'req/s',
    rssGrowth: report.peak - report.baseline,
    records: report.records,
  };
}

function print(title: string, results: Result[], baselines: Record<string, string>): void {
  console.log(`\n${title}`);
  const by = new Map(results.map((r) => [r.variant, r]));
  for (const r of results) {
    const base = by.get(baselines[r.variant] ?? r.variant)!;
    const ratio = (r.throughput / base.throughput).toFixed(3);
    console.log(
      `  ${r.variant.padEnd(18)} ${r.throughput.toFixed(0).padStart(8)} ${r.unit}  ` +
        `${ratio}x of ${base.variant.padEnd(6)}  RSS growth ${(r.rssGrowth / MiB).toFixed(1)} MiB` +
        `  records ${r.records}`,
    );
  }
}

const BASELINES: Record<string, string> = {
  none: 'none',
  tee: 'none',
  'tee-sha256': 'none',
  proxy: 'proxy',
  'proxy-tee': 'proxy',
  'proxy-interceptor': 'proxy',
};

async function main(): Promise<void> {
  const variants = Object.keys(BASELINES);
  console.log(
    `responseTee bench: ${SECONDS}s per case, stream ${STREAM_BYTES / MiB} MiB, node ${process.version}` +
      ' (noisy shared machine: compare ratios, not absolutes)',
  );
  const json: Result[] = [];
  for (const v of variants) json.push(await jsonCase(v));
  print('1 KiB JSON (autocannon, 10 connections)', json, BASELINES);
  const stream: Result[] = [];
  for (const v of variants) stream.push(await streamCase(v));
  print(`${STREAM_BYTES / MiB} MiB stream (one client, sequential downloads)`, stream, BASELINES);
}

void main();
