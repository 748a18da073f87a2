/**
 * bench/sse/export.ts (issue 14): a 150,000-row NDJSON export to a fast
 * client while another client receives a periodic SSE event, with and
 * without the time slice of src/sse/turn.ts (`STREAMGUARD_SSE_NO_YIELD=1`,
 * the behaviour before it), same run.
 *
 *   npm run build && npx tsx bench/sse/export.ts
 *   ROWS=150000 TICK_MS=10 BENCH_REPEAT=1 npx tsx bench/sse/export.ts
 *
 * Per case (`pipe()` of a Readable, a loop of `await send()`): the server's
 * event-loop delay p99 and max during the export
 * (`perf_hooks.monitorEventLoopDelay`, goal p99 ≤ 20 ms), the export's
 * rows/s, and the periodic client's p99 latency (server timestamp → parse)
 * during the export. The server is a child process; both clients are this
 * process, reading as fast as they can.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { get } from 'node:http';
import { resolve } from 'node:path';
import { record } from '../results';

const REPEAT = Number(process.env.BENCH_REPEAT ?? 1);

interface Exported {
  cmd: string;
  port?: number;
  ms: number;
  rowsPerSec: number;
  delayP99: number;
  delayMax: number;
}

interface Figures extends Exported {
  tickP99: number;
  tickGap: number;
  bytes: number;
}

function start(noYield: boolean): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(resolve(__dirname, 'export-server.ts'), [], {
    env: { ...process.env, STREAMGUARD_SSE_NO_YIELD: noYield ? '1' : '0' },
    execArgv: ['--import', 'tsx', ...(process.env.SERVER_ARGS ?? '').split(' ').filter(Boolean)],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((res) => {
    child.once('message', (m: Exported) => res({ child, port: m.port as number }));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    child.once('exit', () => res());
    child.send({ cmd: 'exit' });
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number);
}

async function runCase(noYield: boolean, kind: string): Promise<Figures> {
  const { child, port } = await start(noYield);
  const latencies: number[] = [];
  let recording = false;
  let lastArrival = 0;
  let maxGap = 0;
  const tick = get(`http://127.0.0.1:${port}/tick`, (res) => {
    res.setEncoding('utf8');
    let rest = '';
    res.on('data', (chunk: string) => {
      const now = performance.timeOrigin + performance.now();
      const parts = (rest + chunk).split('\n\n');
      rest = parts.pop() ?? '';
      if (!recording) return;
      if (lastArrival > 0) maxGap = Math.max(maxGap, now - lastArrival);
      lastArrival = now;
      for (const part of parts) {
        const ts = Number.parseFloat(part.slice(part.indexOf('data:') + 5));
        if (Number.isFinite(ts)) latencies.push(now - ts);
      }
    });
    res.on('error', () => undefined);
  });
  tick.on('error', () => undefined);
  await new Promise((r) => setTimeout(r, 300));
  const exported = new Promise<Exported>((res) => {
    child.on('message', (m: Exported) => {
      if (m.cmd === 'exported') res(m);
    });
  });
  recording = true;
  lastArrival = performance.timeOrigin + performance.now();
  const bytes = await new Promise<number>((res, rej) => {
    get(`http://127.0.0.1:${port}/export?case=${kind}`, (r) => {
      let n = 0;
      r.on('data', (c: Buffer) => {
        n += c.length;
      });
      r.on('end', () => res(n));
      r.on('error', rej);
    }).on('error', rej);
  });
  const figures = await exported;
  recording = false;
  maxGap = Math.max(maxGap, performance.timeOrigin + performance.now() - lastArrival);
  tick.destroy();
  await stop(child);
  return {
    ...figures,
    tickP99: percentile(latencies, 0.99),
    tickGap: maxGap,
    bytes,
  };
}

function mean(runs: Figures[]): Pick<Figures, 'delayP99' | 'rowsPerSec' | 'tickGap'> {
  const avg = (key: 'delayP99' | 'rowsPerSec' | 'tickGap') =>
    runs.reduce((sum, f) => sum + f[key], 0) / runs.length;
  return { delayP99: avg('delayP99'), rowsPerSec: avg('rowsPerSec'), tickGap: avg('tickGap') };
}

/** Records one figure for bench/results (under `npm run bench`); 'n/a' where not finite. */
function put(c: string, metric: string, v: number, unit?: string): void {
  const value = Number.isFinite(v) ? v : 'n/a';
  record(unit === undefined ? { case: c, metric, value } : { case: c, metric, value, unit });
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en') : n.toFixed(2);
}

async function main(): Promise<void> {
  console.log(
    `bench/sse export: ${process.env.ROWS ?? 150_000} NDJSON rows to a fast client, a periodic event every ${process.env.TICK_MS ?? 10} ms to another`,
  );
  console.log(
    'case | mode | loop delay p99 (ms) | loop delay max (ms) | rows/s | tick client p99 (ms) | longest gap between ticks (ms)',
  );
  for (const kind of ['pipe', 'send']) {
    const runs: Record<string, Figures[]> = { now: [], before: [] };
    for (let i = 0; i < REPEAT; i++) {
      for (const noYield of [false, true]) {
        const f = await runCase(noYield, kind);
        const mode = noYield ? 'no slice (before)' : 'slice (now)';
        console.log(
          [
            kind,
            mode,
            fmt(f.delayP99),
            fmt(f.delayMax),
            fmt(f.rowsPerSec),
            fmt(f.tickP99),
            fmt(f.tickGap),
          ].join(' | '),
        );
        const c = `export ${kind}, ${mode}`;
        put(c, 'loop delay p99', f.delayP99, 'ms');
        put(c, 'loop delay max', f.delayMax, 'ms');
        put(c, 'rows/s', f.rowsPerSec);
        put(c, 'tick client p99', f.tickP99, 'ms');
        put(c, 'longest gap between ticks', f.tickGap, 'ms');
        runs[noYield ? 'before' : 'now']?.push(f);
      }
    }
    // Means over the repeats, never the best run.
    const now = mean(runs.now as Figures[]);
    const before = mean(runs.before as Figures[]);
    console.log(
      `${kind}: loop delay p99 ${(now.delayP99 / before.delayP99).toFixed(3)}x, rows/s ${(now.rowsPerSec / before.rowsPerSec).toFixed(2)}x, longest tick gap ${(now.tickGap / before.tickGap).toFixed(3)}x (now / before); goal p99 <= 20 ms: ${now.delayP99 <= 20 ? 'met' : 'NOT met'}`,
    );
    const c = `export ${kind}`;
    put(c, 'loop delay p99, now/before', now.delayP99 / before.delayP99, 'x');
    put(c, 'rows/s, now/before', now.rowsPerSec / before.rowsPerSec, 'x');
    put(c, 'longest tick gap, now/before', now.tickGap / before.tickGap, 'x');
    put(c, 'loop delay p99 (mean, now)', now.delayP99, 'ms');
  }
  console.log('Loopback on a shared, noisy machine: compare ratios, not absolute numbers.');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
