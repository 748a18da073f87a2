/**
 * bench/sse: streamguard's sse() against better-sse, same run, same clients.
 *
 *   npx tsx bench/sse/index.ts
 *   BENCH_CLIENTS=1000 BENCH_SECONDS=3 EVENT_BYTES=64 npx tsx bench/sse/index.ts
 *
 * Case 1: BENCH_CLIENTS raw HTTP clients on loopback; the server (a child
 * process) broadcasts at full speed for BENCH_SECONDS: events/s delivered
 * (summed over clients), p99 latency (server timestamp → client parse), and
 * server memory per idle connection.
 * Case 2: 100 clients, one of which never reads (events of STALL_EVENT_BYTES,
 * default 1 KiB, so the kernel buffers fill): the other 99's throughput
 * at full speed, their p99 at BENCH_RATE, the stalled client's server-side
 * buffer and the server's RSS growth during the full-speed broadcast.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { request } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { record } from '../results';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const STALL_CLIENTS = 100;
const RATE = Number(process.env.BENCH_RATE ?? 200);

type Memory = { rss: number; heapUsed: number; external: number; maxBuffered: number };
interface Msg {
  cmd: string;
  port?: number;
  sent?: number;
  memory?: Memory;
}

function startServer(
  impl: string,
  eventBytes = process.env.EVENT_BYTES ?? '64',
): Promise<{ child: ChildProcess; port: number; memory: Memory }> {
  const child = fork(resolve(__dirname, 'server.ts'), [], {
    env: { ...process.env, IMPL: impl, EVENT_BYTES: eventBytes },
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((res) => {
    child.once('message', (m: Msg) =>
      res({ child, port: m.port as number, memory: m.memory as Memory }),
    );
  });
}

function stopServer(child: ChildProcess): Promise<void> {
  return new Promise((res) => {
    child.once('exit', () => res());
    child.send({ cmd: 'exit' });
  });
}

function ask(child: ChildProcess, msg: { cmd: string; ms?: number; rate?: number }): Promise<Msg> {
  return new Promise((res) => {
    child.once('message', (m: Msg) => res(m));
    child.send(msg);
  });
}

/** A counting client: events received, and latencies sampled from the payload timestamp. */
class Client {
  events = 0;
  latencies: number[] = [];
  private rest = '';
  private counting = false;
  constructor(readonly done: Promise<void>) {}
  start(): void {
    this.counting = true;
  }
  stop(): void {
    this.counting = false;
  }
  feed(chunk: string): void {
    const text = this.rest + chunk;
    const parts = text.split('\n\n');
    this.rest = parts.pop() ?? '';
    if (!this.counting) return;
    const now = performance.timeOrigin + performance.now();
    for (const part of parts) {
      const at = part.indexOf('data:');
      if (at === -1) continue;
      const value = part.slice(at + 5).replace(/^ ?"?/, '');
      const ts = Number.parseFloat(value);
      if (!Number.isFinite(ts)) continue;
      this.events++;
      if ((this.events & 7) === 0) this.latencies.push(now - ts);
    }
  }
}

function openClient(port: number): Promise<Client> {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false });
    req.on('error', rej);
    req.on('response', (r) => {
      r.setEncoding('utf8');
      const done = new Promise<void>((d) => r.on('close', () => d()));
      const client = new Client(done);
      r.on('data', (c: string) => client.feed(c));
      r.on('error', () => undefined);
      res(client);
    });
    req.end();
    (req as unknown as { _destroyClient?: () => void })._destroyClient = () => req.destroy();
    clientsRequests.push(req);
  });
}
const clientsRequests: ReturnType<typeof request>[] = [];

async function openClients(port: number, n: number): Promise<Client[]> {
  const out: Client[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, n - i) }, () => openClient(port)),
    );
    out.push(...batch);
  }
  return out;
}

function closeClients(): void {
  for (const r of clientsRequests.splice(0)) r.destroy();
}

function p99(clients: Client[]): number {
  const all = clients.flatMap((c) => c.latencies).sort((a, b) => a - b);
  return all.length === 0 ? Number.NaN : (all[Math.floor(all.length * 0.99)] as number);
}

async function stalled(port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  socket.pause();
  socket.on('error', () => undefined);
  socket.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');
  return socket;
}

interface Result {
  eventsPerSec: number;
  p99: number;
  pacedP99: number;
  bytesPerIdle: number;
  stalledBuffered: number;
  stallOthersEventsPerSec: number;
  stallP99: number;
  stallMemGrowth: number;
}

async function runImpl(impl: string): Promise<Result> {
  // Case 1
  const { child, port, memory: before } = await startServer(impl);
  const clients = await openClients(port, CLIENTS);
  await new Promise((r) => setTimeout(r, 300));
  const idle = (await ask(child, { cmd: 'memory' })).memory as Memory;
  const bytesPerIdle =
    (idle.heapUsed + idle.external - before.heapUsed - before.external) / CLIENTS;
  for (const c of clients) c.start();
  const t0 = performance.now();
  await ask(child, { cmd: 'broadcast', ms: SECONDS * 1000 });
  await new Promise((r) => setTimeout(r, 200));
  for (const c of clients) c.stop();
  const elapsed = (performance.now() - t0) / 1000;
  const delivered = clients.reduce((s, c) => s + c.events, 0);
  const result1 = { eventsPerSec: delivered / elapsed, p99: p99(clients) };
  // Latency at a steady rate the clients keep up with (full speed measures client queueing).
  for (const c of clients) {
    c.latencies = [];
    c.start();
  }
  await ask(child, { cmd: 'broadcast', ms: 1000, rate: RATE });
  await new Promise((r) => setTimeout(r, 200));
  for (const c of clients) c.stop();
  const pacedP99 = p99(clients);
  closeClients();
  await stopServer(child);

  // Case 2
  const s2 = await startServer(impl, process.env.STALL_EVENT_BYTES ?? '1024');
  const others = await openClients(s2.port, STALL_CLIENTS - 1);
  const slow = await stalled(s2.port);
  await new Promise((r) => setTimeout(r, 200));
  const m0 = (await ask(s2.child, { cmd: 'memory' })).memory as Memory;
  for (const c of others) c.start();
  const t1 = performance.now();
  const after = (await ask(s2.child, { cmd: 'broadcast', ms: SECONDS * 1000 })).memory as Memory;
  await new Promise((r) => setTimeout(r, 200));
  for (const c of others) c.stop();
  const e2 = (performance.now() - t1) / 1000;
  const d2 = others.reduce((s, c) => s + c.events, 0);
  for (const c of others) {
    c.latencies = [];
    c.start();
  }
  await ask(s2.child, { cmd: 'broadcast', ms: 1000, rate: RATE });
  await new Promise((r) => setTimeout(r, 200));
  for (const c of others) c.stop();
  slow.destroy();
  closeClients();
  await stopServer(s2.child);
  return {
    ...result1,
    pacedP99,
    bytesPerIdle,
    stalledBuffered: after.maxBuffered,
    stallOthersEventsPerSec: d2 / e2,
    stallP99: p99(others),
    stallMemGrowth: after.rss - m0.rss,
  };
}

/** Records one figure for bench/results; 'n/a' where it is not a finite number. */
function put(c: string, metric: string, v: number, unit?: string): void {
  const value = Number.isFinite(v) ? v : 'n/a';
  record(unit === undefined ? { case: c, metric, value } : { case: c, metric, value, unit });
}

/** The unit a printed row's name states: `(ms)`, `(bytes)`/`bytes`, else none. */
function unitOf(name: string): string | undefined {
  if (name.endsWith('(ms)')) return 'ms';
  if (name.includes('bytes')) return 'B';
  return undefined;
}

function fmt(n: number, unit = ''): string {
  return `${n >= 100 ? Math.round(n).toLocaleString('en') : n.toFixed(2)}${unit}`;
}

async function main(): Promise<void> {
  console.log(`bench/sse: ${CLIENTS} clients, ${SECONDS}s per case, stall case 1/${STALL_CLIENTS}`);
  const ours = await runImpl('streamguard');
  const peer = await runImpl('better-sse');
  const rows: [string, number, number, string][] = [
    ['events/s delivered', ours.eventsPerSec, peer.eventsPerSec, 'higher is better'],
    ['p99 latency at full speed (ms)', ours.p99, peer.p99, 'lower is better'],
    [`p99 latency at ${RATE} events/s (ms)`, ours.pacedP99, peer.pacedP99, 'lower is better'],
    ['memory per idle connection (bytes)', ours.bytesPerIdle, peer.bytesPerIdle, 'lower is better'],
    [
      'stall: others events/s',
      ours.stallOthersEventsPerSec,
      peer.stallOthersEventsPerSec,
      'higher is better',
    ],
    [`stall: others p99 at ${RATE} events/s (ms)`, ours.stallP99, peer.stallP99, 'lower is better'],
    [
      'stall: bytes buffered for the stalled client',
      ours.stalledBuffered,
      peer.stalledBuffered,
      'lower is better',
    ],
    [
      'stall: server RSS growth (bytes)',
      ours.stallMemGrowth,
      peer.stallMemGrowth,
      'lower is better',
    ],
  ];
  console.log(['metric', 'streamguard', 'better-sse', 'ratio (sg/bs)'].join(' | '));
  for (const [name, a, b, note] of rows) {
    console.log([name, fmt(a), fmt(b), `${(a / b).toFixed(2)}x (${note})`].join(' | '));
    put(name, 'streamguard', a, unitOf(name));
    put(name, 'better-sse', b, unitOf(name));
    put(name, 'ratio (sg/bs)', a / b, 'x');
  }
  put(
    `${CLIENTS.toLocaleString('en')} clients`,
    'events/s vs better-sse',
    ours.eventsPerSec / peer.eventsPerSec,
    'x',
  );
  console.log('Loopback on a shared, noisy machine: compare ratios, not absolute numbers.');
  if (process.env.BENCH_CHANNELS === '0') return;
  // Channels (issue 6): the same fan-out through createChannel, over a memory log and a Redis
  // Stream (a real redis-server), against better-sse's channel (the peer run above).
  const redis = await startRedisServer();
  try {
    const memory = await runImpl('channel-memory');
    process.env.REDIS_PORT = String(redis.port);
    const viaRedis = await runImpl('channel-redis');
    const channelRows: [string, keyof Result, string][] = [
      ['events/s delivered', 'eventsPerSec', 'higher is better'],
      ['p99 latency at full speed (ms)', 'p99', 'lower is better'],
      [`p99 latency at ${RATE} events/s (ms)`, 'pacedP99', 'lower is better'],
      ['stall: others events/s', 'stallOthersEventsPerSec', 'higher is better'],
      ['stall: server RSS growth (bytes)', 'stallMemGrowth', 'lower is better'],
    ];
    console.log(`\nchannels, ${CLIENTS} clients`);
    console.log(
      [
        'metric',
        'channel (memory)',
        'channel (redis)',
        'better-sse channel',
        'memory/bs',
        'redis/bs',
      ].join(' | '),
    );
    for (const [name, key, note] of channelRows) {
      const bs = peer[key];
      console.log(
        [
          name,
          fmt(memory[key]),
          fmt(viaRedis[key]),
          fmt(bs),
          `${(memory[key] / bs).toFixed(2)}x`,
          `${(viaRedis[key] / bs).toFixed(2)}x (${note})`,
        ].join(' | '),
      );
      const c = `channels: ${name}`;
      put(c, 'channel (memory)', memory[key], unitOf(name));
      put(c, 'channel (redis)', viaRedis[key], unitOf(name));
      put(c, 'better-sse channel', bs, unitOf(name));
      put(c, 'memory/bs', memory[key] / bs, 'x');
      put(c, 'redis/bs', viaRedis[key] / bs, 'x');
    }
  } finally {
    redis.stop();
  }
}

/** A throwaway redis-server on a free port, for the channel-redis case. */
async function startRedisServer(): Promise<{ port: number; stop: () => void }> {
  const probe = createNetServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited ${code}`)));
  });
  return { port, stop: () => child.kill('SIGKILL') };
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
