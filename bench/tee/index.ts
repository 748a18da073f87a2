/**
 * responseTee benchmark: a 1 KiB JSON response and a 256 MiB stream, with and
 * without the tee (and `wrap-only`: the bare per-instance wrapping any tee
 * pays), and through http-proxy-middleware (plain, with the tee, and
 * with its buffering `responseInterceptor`). Each server runs in its own child
 * process; prints throughput ratios and RSS growth.
 *
 *   npx tsx bench/tee/index.ts   # BENCH_SECONDS=2 per case, BENCH_ROUNDS=3 (best of, interleaved)
 *   BENCH_CASES=json BENCH_ROUNDS=5 npx tsx bench/tee/index.ts   # only the 1 KiB case
 *   BENCH_VARIANTS=none,shape-only,tee npx tsx bench/tee/index.ts # a subset (their baselines included)
 *   BENCH_EXPRESS=4 npx tsx bench/tee/index.ts   # on Express 4 (default 5)
 *   BENCH_SECONDS=10 BENCH_ROUNDS=5 TEE_STREAM_BYTES=268435456 npx tsx bench/tee/index.ts
 *   BENCH_CASES=memory npx tsx bench/tee/index.ts   # only the memory flood (see ./memory.ts)
 *   BENCH_JSON=tee.json npx tsx bench/tee/index.ts  # also write every figure as JSON there
 */
import { type ChildProcess, fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { pin } from '../cpu';
import { record } from '../results';
import { type MemoryResults, memoryCase, printMemory } from './memory';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const STREAM_BYTES = Number(process.env.TEE_STREAM_BYTES ?? 256 * 1024 * 1024);
const MiB = 1024 * 1024;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** Comma-separated `json`, `stream`, `memory`; `both` is json,stream; default all three. */
const CASES = new Set(
  (process.env.BENCH_CASES ?? 'json,stream,memory')
    .split(',')
    .flatMap((c) => (c === 'both' ? ['json', 'stream'] : [c.trim()])),
);

interface Report {
  baseline: number;
  peak: number;
  maxRSS: number;
  records: number;
  /** Server CPU time (user + system) since the last `'mark'`, in µs. */
  cpuMicros: number;
}

interface Result {
  variant: string;
  throughput: number;
  unit: string;
  rssGrowth: number;
  records: number;
  /** Server CPU µs per request (JSON case only): steadier than req/s on a busy machine. */
  cpuPerRequest?: number;
}

function start(variant: string, payload: string): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(join(__dirname, 'server.ts'), [variant, payload], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, TEE_STREAM_BYTES: String(STREAM_BYTES) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => {
      pin(child.pid, 1);
      resolve({ child, port: (m as { port: number }).port });
    });
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

/** Downloads `/`; gives up after `limitMs` (responseInterceptor's O(n²) buffering can take minutes). */
function download(port: number, limitMs: number): Promise<{ bytes: number; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const agent = new http.Agent({ keepAlive: false });
    let n = 0;
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.on('data', (c: Buffer) => {
        n += c.length;
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ bytes: n, complete: true });
      });
      res.on('error', () => undefined);
    });
    req.on('error', (err) => {
      if (!timedOut) reject(err);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy();
      resolve({ bytes: n, complete: false });
    }, limitMs);
  });
}

async function streamCase(variant: string): Promise<Result> {
  const { child, port } = await start(variant, 'stream');
  const limitMs = Math.max(30_000, SECONDS * 10_000);
  const warm = await download(port, limitMs); // warm-up
  const t0 = performance.now();
  let bytes = 0;
  let complete = warm.complete;
  while (complete && performance.now() - t0 < SECONDS * 1000) {
    const got = await download(port, limitMs);
    complete = got.complete;
    if (complete) bytes += got.bytes;
  }
  const seconds = (performance.now() - t0) / 1000;
  const report = await stop(child);
  return {
    variant,
    throughput: complete ? bytes / MiB / seconds : 0,
    unit: complete ? 'MiB/s' : `MiB/s (did not finish one download in ${limitMs / 1000}s)`,
    rssGrowth: report.peak - report.baseline,
    records: report.records,
  };
}

async function jsonCase(variant: string): Promise<Result> {
  const { child, port } = await start(variant, 'json');
  await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 10, duration: 1 });
  child.send('mark');
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
    cpuPerRequest: report.cpuMicros / Math.max(1, result.requests.total),
  };
}

/** Records one figure for bench/results; 'n/a' where it is not a finite number. */
function put(c: string, metric: string, v: number, unit?: string): void {
  const value = Number.isFinite(v) ? v : 'n/a';
  record(unit === undefined ? { case: c, metric, value } : { case: c, metric, value, unit });
}

/**
 * Records a case's rows: `case` is the printed title up to its parenthesis and
 * the variant; the goal figure (`tee` against `none`) under `goalMetric`.
 */
function recordCase(
  label: string,
  goalMetric: string,
  results: Result[],
  baselines: Record<string, string>,
): void {
  const by = new Map(results.map((r) => [r.variant, r]));
  for (const r of results) {
    const base = by.get(baselines[r.variant] ?? r.variant)!;
    const c = `${label}, ${r.variant}`;
    if (r.unit === 'req/s' || r.unit === 'MiB/s') put(c, 'throughput', r.throughput, r.unit);
    else record({ case: c, metric: 'throughput', value: r.unit });
    put(c, `throughput vs ${base.variant}`, r.throughput / base.throughput, 'x');
    put(c, 'RSS growth', r.rssGrowth / MiB, 'MiB');
    put(c, 'records', r.records);
    const shape = by.get(r.variant.startsWith('proxy') ? 'proxy-shape' : 'shape-only');
    const teed = r.variant.startsWith('tee') || r.variant === 'proxy-tee';
    if (r.cpuPerRequest !== undefined && base.cpuPerRequest !== undefined) {
      put(c, 'CPU/req', r.cpuPerRequest, 'µs');
      put(c, `CPU/req, ${base.variant}/this`, base.cpuPerRequest / r.cpuPerRequest, 'x');
      if (shape?.cpuPerRequest !== undefined && teed)
        put(c, `CPU/req, ${shape.variant}/this`, shape.cpuPerRequest / r.cpuPerRequest, 'x');
    }
  }
  const tee = by.get('tee');
  const none = by.get('none');
  if (tee !== undefined && none !== undefined && tee.unit === none.unit)
    put(label, goalMetric, tee.throughput / none.throughput, 'x');
}

function print(title: string, results: Result[], baselines: Record<string, string>): void {
  console.log(`\n${title}`);
  const by = new Map(results.map((r) => [r.variant, r]));
  for (const r of results) {
    const base = by.get(baselines[r.variant] ?? r.variant)!;
    const ratio = (r.throughput / base.throughput).toFixed(3);
    const proxied = r.variant.startsWith('proxy');
    const shape = by.get(proxied ? 'proxy-shape' : 'shape-only');
    const teed = r.variant.startsWith('tee') || r.variant === 'proxy-tee';
    const cpu =
      r.cpuPerRequest === undefined || base.cpuPerRequest === undefined
        ? ''
        : `  CPU ${r.cpuPerRequest.toFixed(1)} µs/req (${(base.cpuPerRequest / r.cpuPerRequest).toFixed(3)}x` +
          (shape?.cpuPerRequest !== undefined && teed
            ? `, ${(shape.cpuPerRequest / r.cpuPerRequest).toFixed(3)}x of ${shape.variant})`
            : ')');
    console.log(
      `  ${r.variant.padEnd(18)} ${r.throughput.toFixed(0).padStart(8)} ${r.unit}  ` +
        `${ratio}x of ${base.variant.padEnd(6)}  RSS growth ${(r.rssGrowth / MiB).toFixed(1)} MiB` +
        `  records ${r.records}${cpu}`,
    );
  }
}

const BASELINES: Record<string, string> = {
  none: 'none',
  'wrap-only': 'none',
  'shape-only': 'none',
  tee: 'none',
  'tee-sha256': 'none',
  proxy: 'proxy',
  'proxy-shape': 'proxy',
  'proxy-tee': 'proxy',
  'proxy-interceptor': 'proxy',
};

/** Best of `rounds` interleaved runs per variant: the least disturbed by a noisy machine. */
async function rounds(
  variants: string[],
  run: (variant: string) => Promise<Result>,
  count: number,
  once: ReadonlySet<string>,
): Promise<Result[]> {
  const best = new Map<string, Result>();
  for (let round = 0; round < count; round++) {
    for (const v of variants) {
      if (round > 0 && once.has(v)) continue;
      const r = await run(v);
      const prev = best.get(v);
      if (prev === undefined || r.throughput > prev.throughput) best.set(v, r);
      else prev.rssGrowth = Math.max(prev.rssGrowth, r.rssGrowth);
    }
  }
  return variants.map((v) => best.get(v)!);
}

async function main(): Promise<void> {
  // The load here on CPU 0, each server on CPU 1.
  const pinned = pin(process.pid, 0);
  const only = process.env.BENCH_VARIANTS?.split(',');
  // In the order given: the order within a round matters where runs leave state behind (TIME_WAIT).
  const variants = only?.filter((v) => v in BASELINES) ?? Object.keys(BASELINES);
  console.log(
    `responseTee bench (Express ${process.env.BENCH_EXPRESS === '4' ? 4 : 5}): ${SECONDS}s per case, best of ${ROUNDS} interleaved rounds, stream ` +
      `${STREAM_BYTES / MiB} MiB, node ${process.version}, ${pinned ? 'servers on CPU 1, load on CPU 0' : 'not pinned to CPUs'} (noisy shared machine: compare ratios, not absolutes)`,
  );
  const out: { json?: Result[]; stream?: Result[]; memory?: MemoryResults } = {};
  if (CASES.has('json')) {
    const json = await rounds(variants, jsonCase, ROUNDS, new Set());
    print('1 KiB JSON (autocannon, 10 connections)', json, BASELINES);
    recordCase('1 KiB JSON', 'req/s vs no tee', json, BASELINES);
    out.json = json;
  }
  if (CASES.has('stream')) {
    const stream = await rounds(variants, streamCase, ROUNDS, new Set(['proxy-interceptor']));
    print(`${STREAM_BYTES / MiB} MiB stream (one client, sequential downloads)`, stream, BASELINES);
    recordCase(`${STREAM_BYTES / MiB} MiB stream`, 'throughput vs no tee', stream, BASELINES);
    out.stream = stream;
  }
  if (CASES.has('memory')) {
    out.memory = memoryCase();
    printMemory(out.memory);
  }
  const jsonPath = process.env.BENCH_JSON;
  if (jsonPath !== undefined && jsonPath !== '') {
    writeFileSync(
      jsonPath,
      `${JSON.stringify({ node: process.version, seconds: SECONDS, ...out }, null, 2)}\n`,
    );
    console.log(`\nwrote ${jsonPath}`);
  }
}

void main();
