/**
 * rereadableBody against the usual ways to keep the raw body:
 * `express.json({ verify: stash rawBody })` and `express.raw()` + JSON.parse.
 * POST 1 KiB, 64 KiB, 1 MiB JSON with 200 connections (autocannon, here),
 * each server in its own child process. Then a flood of 1 MiB uploads, and
 * a slow flood: 400 uploads of 1 MiB trickled in at once, so that every body
 * is in flight at the same time. Then the header/slow flood (./flood.ts,
 * `BENCH_ONLY=header-flood`): memory held against the pool's budget.
 *
 *   npx tsx bench/body/index.ts          # BENCH_SECONDS=3 by default
 */
import { type ChildProcess, fork } from 'node:child_process';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import autocannon from 'autocannon';
import { pin } from '../cpu';
import { record } from '../results';
import { headerFlood } from './flood';
import { jsonOf } from './payload';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONNECTIONS = 200;
const MODES = ['ours', 'verify', 'shaped', 'raw'] as const;
/** `floor` only counts allocations: the socket's chunks and the parsed objects everyone pays. */
type Mode = (typeof MODES)[number] | 'floor';

interface Result {
  rps: number;
  /** Server CPU µs per request: steadier than req/s when other tenants are busy. */
  cpuPerReq: number;
  allocPerReq: number;
  peakRss: number;
  non2xx: number;
}

function startServer(
  mode: Mode,
  env: Record<string, string> = {},
  flags: string[] = [],
): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(resolve(__dirname, 'server.ts'), [], {
    execArgv: ['--import', 'tsx', '--expose-gc', ...flags],
    env: { ...process.env, BENCH_MODE: mode, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolvePort, reject) => {
    child.on('message', function onReady(msg: { port?: number }): void {
      if (typeof msg?.port !== 'number') return;
      child.off('message', onReady);
      pin(child.pid, 1);
      resolvePort({ child, port: msg.port });
    });
    child.once('exit', (code) => reject(new Error(`server ${mode} exited ${code}`)));
  });
}

/** What a server answers to `stop`: counters since the last `start`. */
interface ServerReport {
  requests: number;
  allocated: number;
  peakRss: number;
  startRss: number;
  cpu: number;
}

function ask(child: ChildProcess, msg: string): Promise<ServerReport> {
  return new Promise((resolveReply) => {
    child.on('message', function onReply(reply: Partial<ServerReport> | undefined): void {
      if (typeof reply?.requests !== 'number') return;
      child.off('message', onReply);
      resolveReply(reply as ServerReport);
    });
    child.send(msg);
  });
}

async function runCase(
  mode: Mode,
  body: string,
  seconds: number,
  env: Record<string, string> = {},
): Promise<Result> {
  const { child, port } = await startServer(mode, env);
  const opts = {
    url: `http://127.0.0.1:${port}/`,
    method: 'POST' as const,
    connections: CONNECTIONS,
    headers: { 'content-type': 'application/json' },
    body,
  };
  await autocannon({ ...opts, duration: 1 }); // warm-up
  child.send('start');
  const result = await autocannon({ ...opts, duration: seconds });
  const mem = await ask(child, 'stop');
  child.kill();
  return {
    rps: result.requests.average,
    cpuPerReq: mem.requests === 0 ? 0 : mem.cpu / mem.requests,
    allocPerReq: mem.requests === 0 ? 0 : mem.allocated / mem.requests,
    peakRss: mem.peakRss,
    non2xx: result.non2xx,
  };
}

/**
 * Bytes allocated per request (heap + external), counted apart from the
 * throughput run: one connection, requests one after another, in a server
 * whose young generation is large enough that garbage collection rarely runs
 * while counting. (Under load, collections between two samples hide what was
 * allocated and freed in between, and undercount every contender by a
 * different amount.)
 */
async function measureAllocations(mode: Mode, body: string, requests: number): Promise<number> {
  const { child, port } = await startServer(mode, {}, ['--max-semi-space-size=256']);
  const opts = {
    url: `http://127.0.0.1:${port}/`,
    method: 'POST' as const,
    connections: 1,
    headers: { 'content-type': 'application/json' },
    body,
  };
  await autocannon({ ...opts, amount: Math.max(10, requests / 4) }); // warm-up
  child.send('start');
  await autocannon({ ...opts, amount: requests });
  const mem = await ask(child, 'stop');
  child.kill();
  return mem.requests === 0 ? 0 : mem.allocated / mem.requests;
}

const SLOW_UPLOADS = Number(process.env.BENCH_SLOW_UPLOADS ?? 400);
const SLOW_PIECES = 16;
const SLOW_GAP_MS = 150;

/**
 * One upload of `body` over a raw socket, sent in {@link SLOW_PIECES} pieces
 * {@link SLOW_GAP_MS} apart (a slow client). Resolves with the response's
 * status (0 when the connection was closed before one came), after at most
 * 30 s.
 */
function slowUpload(port: number, body: Buffer): Promise<number> {
  return new Promise((resolveStatus) => {
    const socket = connect(port, '127.0.0.1');
    let status = 0;
    let answer = '';
    let sent = 0;
    const piece = Math.ceil(body.length / SLOW_PIECES);
    const limit = setTimeout(finish, 30_000);
    let timer: NodeJS.Timeout | undefined;
    function finish(): void {
      clearTimeout(limit);
      clearTimeout(timer);
      socket.destroy();
      resolveStatus(status);
    }
    function sendPiece(): void {
      if (socket.destroyed) return;
      const end = Math.min(body.length, sent + piece);
      socket.write(body.subarray(sent, end));
      sent = end;
      if (sent < body.length) timer = setTimeout(sendPiece, SLOW_GAP_MS);
    }
    socket.setNoDelay(true);
    socket.on('connect', function sendHead(): void {
      socket.write(
        `POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      );
      sendPiece();
    });
    socket.on('data', function readStatus(chunk: Buffer): void {
      if (status !== 0) return;
      answer += chunk.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      if (m) status = Number(m[1]);
    });
    socket.on('error', finish);
    socket.on('close', finish);
  });
}

/**
 * Every upload in flight at once: `SLOW_UPLOADS` clients trickle a 1 MiB
 * body each. A reader that buffers holds every partial body; ours leases
 * from a pool with a budget and answers the rest 503 before reading them.
 */
async function slowFlood(
  mode: Mode,
  body: Buffer,
): Promise<{ rssGrowth: number; statuses: Map<number, number> }> {
  const { child, port } = await startServer(mode, { BENCH_MAX_IN_FLIGHT: '32mb' });
  child.send('start');
  const statuses = new Map<number, number>();
  const uploads: Promise<number>[] = [];
  for (let i = 0; i < SLOW_UPLOADS; i++) uploads.push(slowUpload(port, body));
  for (const status of await Promise.all(uploads))
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  const mem = await ask(child, 'stop');
  child.kill();
  return { rssGrowth: mem.peakRss - mem.startRss, statuses };
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}
function kib(n: number): string {
  return `${(n / 1024).toFixed(1)} KiB`;
}
function ratio(a: number, b: number): string {
  return b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`;
}
/** Records one figure for bench/results (a ratio `a / b` when `b` is given); 'n/a' where not finite. */
function put(c: string, metric: string, a: number, unit?: string, b?: number): void {
  const v = b === undefined ? a : b === 0 ? Number.NaN : a / b;
  const value = Number.isFinite(v) ? v : 'n/a';
  record(unit === undefined ? { case: c, metric, value } : { case: c, metric, value, unit });
}

async function main(): Promise<void> {
  // autocannon here on CPU 0, each server on CPU 1.
  const pinned = pin(process.pid, 0);
  console.log(
    `rereadableBody bench: ${CONNECTIONS} connections, ${SECONDS}s per case, ${pinned ? 'servers on CPU 1, load on CPU 0' : 'not pinned to CPUs'}, noisy shared machine: read ratios, not absolutes\n`,
  );
  const only = process.env.BENCH_ONLY; // e.g. 'flood' or '64 KiB'
  for (const [label, size, sequential] of [
    ['1 KiB', 1024, 4000],
    ['64 KiB', 64 * 1024, 1000],
    ['1 MiB', 1024 * 1024, 100],
  ] as const) {
    if (only !== undefined && only !== label) continue;
    const body = jsonOf(size);
    const results = {} as Record<Mode, Result>;
    // Interleave the contenders twice (ours first, then last) and keep each one's best run,
    // so the order and a noisy neighbour weigh less.
    for (const mode of [...MODES, ...[...MODES].reverse()]) {
      const r = await runCase(mode, body, SECONDS);
      const kept = results[mode];
      if (kept === undefined || r.rps > kept.rps)
        results[mode] = { ...r, cpuPerReq: Math.min(r.cpuPerReq, kept?.cpuPerReq ?? r.cpuPerReq) };
      else kept.cpuPerReq = Math.min(kept.cpuPerReq, r.cpuPerReq);
    }
    const alloc = {} as Record<Mode, number>;
    for (const mode of [...MODES, 'floor'] as const) {
      const samples = [
        await measureAllocations(mode, body, sequential),
        await measureAllocations(mode, body, sequential),
      ];
      alloc[mode] = Math.max(...samples); // the error is undercounting
      if (mode !== 'floor') results[mode].allocPerReq = alloc[mode];
    }
    const beyond = (mode: Mode) => Math.max(alloc[mode] - alloc.floor, 1);
    const o = results.ours;
    console.log(`POST ${label} JSON`);
    for (const mode of MODES) {
      const r = results[mode];
      console.log(
        `  ${mode.padEnd(7)} ${r.rps.toFixed(0).padStart(7)} req/s  CPU ${r.cpuPerReq.toFixed(0).padStart(6)} µs/req  alloc/req ${kib(r.allocPerReq).padStart(10)}  peak RSS ${mib(r.peakRss).padStart(10)}  non-2xx ${r.non2xx}`,
      );
      const c = `${label} JSON, ${mode}`;
      put(c, 'req/s', r.rps);
      put(c, 'CPU/req', r.cpuPerReq, 'µs');
      put(c, 'alloc/req', r.allocPerReq / 1024, 'KiB');
      put(c, 'peak RSS', r.peakRss / 1048576, 'MiB');
      put(c, 'non-2xx', r.non2xx);
      if (mode !== 'shaped') put(c, 'alloc/req beyond floor', beyond(mode) / 1024, 'KiB');
    }
    put(`${label} JSON, floor`, 'alloc/req', alloc.floor / 1024, 'KiB');
    const g = `${label} JSON`;
    put(g, 'req/s vs verify', o.rps, 'x', results.verify.rps);
    put(g, 'req/s vs shaped', o.rps, 'x', results.shaped.rps);
    put(g, 'req/s vs raw', o.rps, 'x', results.raw.rps);
    put(g, 'CPU/req, verify/ours', results.verify.cpuPerReq, 'x', o.cpuPerReq);
    put(g, 'CPU/req, shaped/ours', results.shaped.cpuPerReq, 'x', o.cpuPerReq);
    put(g, 'CPU/req, raw/ours', results.raw.cpuPerReq, 'x', o.cpuPerReq);
    put(g, 'alloc/req, verify/ours', results.verify.allocPerReq, 'x', o.allocPerReq);
    put(g, 'alloc/req, raw/ours', results.raw.allocPerReq, 'x', o.allocPerReq);
    put(g, 'peak RSS, ours/verify', o.peakRss, 'x', results.verify.peakRss);
    put(g, 'peak RSS, ours/raw', o.peakRss, 'x', results.raw.peakRss);
    put(g, 'alloc beyond floor, verify/ours', beyond('verify'), 'x', beyond('ours'));
    put(g, 'alloc beyond floor, raw/ours', beyond('raw'), 'x', beyond('ours'));
    console.log(
      `  ours vs verify: throughput ${ratio(o.rps, results.verify.rps)}, CPU ${ratio(results.verify.cpuPerReq, o.cpuPerReq)} less, allocations ${ratio(results.verify.allocPerReq, o.allocPerReq)} lower, RSS ${ratio(o.peakRss, results.verify.peakRss)}`,
    );
    console.log(
      `  ours vs shaped: throughput ${ratio(o.rps, results.shaped.rps)}, CPU ${ratio(results.shaped.cpuPerReq, o.cpuPerReq)} less (the verify hack on a request given a shared hidden class first, as ours does)`,
    );
    console.log(
      `  ours vs raw:    throughput ${ratio(o.rps, results.raw.rps)}, CPU ${ratio(results.raw.cpuPerReq, o.cpuPerReq)} less, allocations ${ratio(results.raw.allocPerReq, o.allocPerReq)} lower, RSS ${ratio(o.peakRss, results.raw.peakRss)}`,
    );
    console.log(
      `  beyond the floor (socket chunks + parsed objects, ${kib(alloc.floor)}): ours ${kib(beyond('ours'))}, verify ${kib(beyond('verify'))} (${ratio(beyond('verify'), beyond('ours'))} lower), raw ${kib(beyond('raw'))} (${ratio(beyond('raw'), beyond('ours'))} lower)\n`,
    );
  }
  if (only === 'header-flood') {
    await headerFlood();
    return;
  }
  if (only !== undefined && only !== 'flood' && only !== 'slow') return;
  const flood = jsonOf(1024 * 1024);
  const floodModes = (process.env.BENCH_MODES?.split(',') ?? ['ours', 'verify', 'raw']) as Mode[];
  if (only !== 'slow') {
    console.log(
      'Flood: 1 MiB uploads, 200 connections; ours with maxInFlight 32mb (past it: 503 + Retry-After)',
    );
    const fl = {} as Record<Mode, Result>;
    for (const mode of floodModes)
      fl[mode] = await runCase(mode, flood, SECONDS, { BENCH_MAX_IN_FLIGHT: '32mb' });
    for (const mode of floodModes) {
      const r = fl[mode];
      console.log(
        `  ${mode.padEnd(7)} peak RSS ${mib(r.peakRss).padStart(10)}  ${r.rps.toFixed(0)} req/s  non-2xx ${r.non2xx}`,
      );
      put(`flood 1 MiB, ${mode}`, 'peak RSS', r.peakRss / 1048576, 'MiB');
      put(`flood 1 MiB, ${mode}`, 'req/s', r.rps);
      put(`flood 1 MiB, ${mode}`, 'non-2xx', r.non2xx);
    }
    console.log(
      `  peak RSS ours/verify ${ratio(fl.ours.peakRss, fl.verify.peakRss)}, ours/raw ${ratio(fl.ours.peakRss, fl.raw.peakRss)}`,
    );
    if (fl.ours !== undefined && fl.verify !== undefined)
      put('flood 1 MiB', 'peak RSS, ours/verify', fl.ours.peakRss, 'x', fl.verify.peakRss);
    if (fl.ours !== undefined && fl.raw !== undefined)
      put('flood 1 MiB', 'peak RSS, ours/raw', fl.ours.peakRss, 'x', fl.raw.peakRss);
  }
  console.log(
    `\nSlow flood: ${SLOW_UPLOADS} clients each trickle a 1 MiB body in ${SLOW_PIECES} pieces ${SLOW_GAP_MS} ms apart, all at once; ours with maxInFlight 32mb`,
  );
  const slowBody = Buffer.from(flood);
  const slow = {} as Record<Mode, { rssGrowth: number; statuses: Map<number, number> }>;
  for (const mode of floodModes) {
    slow[mode] = await slowFlood(mode, slowBody);
    const statuses = [...slow[mode].statuses].map(([code, n]) => `${code}: ${n}`).join(', ');
    console.log(
      `  ${mode.padEnd(7)} RSS growth ${mib(slow[mode].rssGrowth).padStart(10)}  statuses ${statuses}`,
    );
    put(`slow flood, ${mode}`, 'RSS growth', slow[mode].rssGrowth / 1048576, 'MiB');
    record({ case: `slow flood, ${mode}`, metric: 'statuses', value: statuses });
  }
  console.log(
    `  RSS growth ours/verify ${ratio(slow.ours.rssGrowth, slow.verify.rssGrowth)}, ours/raw ${ratio(slow.ours.rssGrowth, slow.raw.rssGrowth)}`,
  );
  if (slow.ours !== undefined && slow.verify !== undefined)
    put('slow flood', 'RSS growth, ours/verify', slow.ours.rssGrowth, 'x', slow.verify.rssGrowth);
  if (slow.ours !== undefined && slow.raw !== undefined)
    put('slow flood', 'RSS growth, ours/raw', slow.ours.rssGrowth, 'x', slow.raw.rssGrowth);
  if (only === undefined) await headerFlood();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
