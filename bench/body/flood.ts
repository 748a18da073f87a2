/**
 * Header and slow-upload flood: `FLOOD_CLIENTS` connections announce a 1 MiB
 * body and then send only their headers (half of them) or the first 256 KiB
 * (the other half) and stall, while 10 normal clients keep posting 64 KiB
 * JSON. Measures, in the server's child process, what it holds while the
 * flood is open (heap + external after `gc()`, and RSS), against the pool's
 * budget, for rereadableBody and for body-parser's `verify` hook, in the same
 * run. Prints ratios, records them for bench/results/body.json when run by
 * `npm run bench body`, and writes the details to `$TMPDIR/body-flood.json`
 * (not to bench/results/, whose every .json is a `BenchResult`).
 *
 *   npm run build && BENCH_SECONDS=2 npx tsx bench/body/flood.ts
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import { pin } from '../cpu';
import { record } from '../results';
import { jsonOf } from './payload';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CLIENTS = Number(process.env.FLOOD_CLIENTS ?? 400);
const BUDGET = process.env.BENCH_MAX_IN_FLIGHT ?? '32mb';
const ANNOUNCED = 1024 * 1024;
const PARTIAL = 256 * 1024;
const MODES = ['ours', 'verify'] as const;
type Mode = (typeof MODES)[number];

interface Held {
  held: number;
  rss: number;
  pool: { inUse: number; peak: number; rejected: number; leases: number } | null;
  budget: number | null;
}

interface FloodResult {
  /** heap + external after gc, before the flood. */
  baseline: number;
  /** heap + external after gc, with the flood open and the normal clients running. */
  held: number;
  heldGrowth: number;
  rssGrowth: number;
  pool: Held['pool'];
  budget: number | null;
  /** Flood connections the server answered before we closed them, by status. */
  floodAnswers: Record<string, number>;
  normal: { requests: number; ok: number; non2xx: number; rps: number };
}

function startServer(mode: Mode): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(resolve(__dirname, 'server.ts'), [], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    env: { ...process.env, BENCH_MODE: mode, BENCH_MAX_IN_FLIGHT: BUDGET },
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

function held(child: ChildProcess): Promise<Held> {
  return new Promise((resolveHeld) => {
    child.on('message', function onHeld(msg: Partial<Held> | undefined): void {
      if (typeof msg?.held !== 'number') return;
      child.off('message', onHeld);
      resolveHeld(msg as Held);
    });
    child.send('held');
  });
}

/** One flood client: headers announcing 1 MiB, then `send` bytes of it, then nothing. */
function floodClient(port: number, send: number, answers: Map<string, number>): Promise<Socket> {
  return new Promise((resolveSocket) => {
    const socket = connect(port, '127.0.0.1');
    let seen = '';
    let counted = false;
    socket.on('error', () => undefined);
    socket.on('data', function readStatus(c: Buffer): void {
      if (counted) return;
      seen += c.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(seen);
      if (m?.[1] !== undefined) {
        counted = true;
        answers.set(m[1], (answers.get(m[1]) ?? 0) + 1);
      }
    });
    socket.on('connect', function sendHead(): void {
      socket.write(
        `POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: ${ANNOUNCED}\r\n\r\n`,
      );
      if (send === 0) {
        resolveSocket(socket);
        return;
      }
      socket.write(Buffer.alloc(send, ' '), () => resolveSocket(socket));
    });
  });
}

async function flood(mode: Mode): Promise<FloodResult> {
  const { child, port } = await startServer(mode);
  const normalBody = jsonOf(64 * 1024);
  const opts = {
    url: `http://127.0.0.1:${port}/`,
    method: 'POST' as const,
    connections: 10,
    headers: { 'content-type': 'application/json' },
    body: normalBody,
  };
  await autocannon({ ...opts, duration: 1 }); // warm-up
  const before = await held(child);
  const answers = new Map<string, number>();
  const sockets: Socket[] = [];
  for (let i = 0; i < CLIENTS; i++)
    sockets.push(await floodClient(port, i % 2 === 0 ? 0 : PARTIAL, answers));
  await new Promise((r) => setTimeout(r, 500)); // let the server read what was sent
  const normalRun = autocannon({ ...opts, duration: SECONDS });
  await new Promise((r) => setTimeout(r, (SECONDS * 1000) / 2));
  const during = await held(child);
  const normal = await normalRun;
  for (const s of sockets) s.destroy();
  child.kill();
  return {
    baseline: before.held,
    held: during.held,
    heldGrowth: during.held - before.held,
    rssGrowth: during.rss - before.rss,
    pool: during.pool,
    budget: during.budget,
    floodAnswers: Object.fromEntries(answers),
    normal: {
      requests: normal.requests.total,
      ok: normal['2xx'],
      non2xx: normal.non2xx,
      rps: normal.requests.average,
    },
  };
}

function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}
function ratio(a: number, b: number): string {
  return b === 0 ? 'n/a' : `${(a / b).toFixed(2)}x`;
}
/** Records one figure for bench/results; 'n/a' where it is not a finite number. */
function put(c: string, metric: string, v: number | null, unit?: string): void {
  const value = v !== null && Number.isFinite(v) ? v : 'n/a';
  record(unit === undefined ? { case: c, metric, value } : { case: c, metric, value, unit });
}

/** Runs the flood against each contender, prints the table and ratios, writes the JSON. */
export async function headerFlood(): Promise<void> {
  console.log(
    `\nHeader/slow flood: ${CLIENTS} connections announce 1 MiB, half send only headers, half 256 KiB, then stall; 10 clients post 64 KiB JSON meanwhile; ours with maxInFlight ${BUDGET}`,
  );
  const results = {} as Record<Mode, FloodResult>;
  for (const mode of MODES) {
    const r = await flood(mode);
    results[mode] = r;
    const pool =
      r.pool === null
        ? ''
        : `  pool inUse ${mib(r.pool.inUse)} (budget ${mib(r.budget ?? 0)}, peak ${mib(r.pool.peak)}, ${r.pool.rejected} rejected)`;
    console.log(
      `  ${mode.padEnd(7)} held (heap+external after gc) +${mib(r.heldGrowth).padStart(10)}  RSS +${mib(r.rssGrowth).padStart(10)}${pool}`,
    );
    console.log(
      `          flood answered ${JSON.stringify(r.floodAnswers)}; normal 64 KiB posts ${r.normal.ok} ok / ${r.normal.non2xx} non-2xx (${r.normal.rps.toFixed(0)} req/s)`,
    );
    const c = `header flood, ${mode}`;
    put(c, 'held growth', r.heldGrowth / 1048576, 'MiB');
    put(c, 'RSS growth', r.rssGrowth / 1048576, 'MiB');
    if (r.pool !== null) {
      put(c, 'pool inUse', r.pool.inUse / 1048576, 'MiB');
      put(c, 'budget', (r.budget ?? 0) / 1048576, 'MiB');
      put(c, 'pool peak', r.pool.peak / 1048576, 'MiB');
      put(c, 'pool rejected', r.pool.rejected);
    }
    record({ case: c, metric: 'flood answered', value: JSON.stringify(r.floodAnswers) });
    put(c, 'normal posts ok', r.normal.ok);
    put(c, 'normal posts non-2xx', r.normal.non2xx);
    put(c, 'normal req/s', r.normal.rps);
  }
  const o = results.ours;
  const v = results.verify;
  const ratios = {
    heldOursOverVerify: v.heldGrowth === 0 ? null : o.heldGrowth / v.heldGrowth,
    rssOursOverVerify: v.rssGrowth === 0 ? null : o.rssGrowth / v.rssGrowth,
    heldOursOverBudget: o.budget === null ? null : o.heldGrowth / o.budget,
    normalOkOursOverVerify: v.normal.ok === 0 ? null : o.normal.ok / v.normal.ok,
  };
  console.log(
    `  held ours/verify ${ratio(o.heldGrowth, v.heldGrowth)}, RSS ours/verify ${ratio(o.rssGrowth, v.rssGrowth)}, held ours/budget ${ratio(o.heldGrowth, o.budget ?? 0)}, normal posts served ours/verify ${ratio(o.normal.ok, v.normal.ok)}`,
  );
  put('header flood', 'held, ours/verify', ratios.heldOursOverVerify, 'x');
  put('header flood', 'RSS growth, ours/verify', ratios.rssOursOverVerify, 'x');
  put('header flood', 'held, ours/budget', ratios.heldOursOverBudget, 'x');
  put('header flood', 'normal posts served, ours/verify', ratios.normalOkOursOverVerify, 'x');
  const dir = tmpdir();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'body-flood.json');
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        bench: 'body/flood',
        date: new Date().toISOString(),
        node: process.version,
        params: {
          seconds: SECONDS,
          clients: CLIENTS,
          announced: ANNOUNCED,
          partial: PARTIAL,
          budget: BUDGET,
        },
        results,
        ratios,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`  written ${file}`);
}

if (require.main === module) {
  pin(process.pid, 0);
  headerFlood().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
