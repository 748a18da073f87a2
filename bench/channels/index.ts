/**
 * bench/channels: many topics (issue 13). BENCH_TOPICS topics (default
 * 10,000) × 1 subscriber, spread over 2 server processes on one
 * redis-server, through createChannels + RedisStreamLogs (one multiplexed
 * blocking XREAD per process) against the naive way, one createChannel
 * with its own RedisStreamLog (so its own blocking connection) per topic.
 *
 *   npm run build && BENCH_SECONDS=2 npx tsx bench/channels/index.ts
 *   BENCH_TOPICS=2000 NAIVE_TOPICS=2000 BENCH_SECONDS=3 npx tsx bench/channels/index.ts
 *
 * Reports per server process: Redis connections (CLIENT LIST by connection
 * name), RSS and heap+external after a full GC (reported by the child), and
 * for the whole run: events/s delivered while the parent publishes to
 * random topics at full speed for BENCH_SECONDS, and p99 latency (publish
 * timestamp → client parse); event-loop delay in each server process
 * (perf_hooks.monitorEventLoopDelay, p99 and max, the worse of the two
 * processes) while every topic is subscribed and while events are published
 * and delivered. Prints a table and one JSON line of ratios.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { type IncomingMessage, request } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { resolve } from 'node:path';
import Redis from 'ioredis';
import { built } from '../built';

const { RedisStreamLogs } = built<typeof import('../../src/sse')>('sse');

const TOPICS = Number(process.env.BENCH_TOPICS ?? 10_000);
const NAIVE_TOPICS = Number(process.env.NAIVE_TOPICS ?? TOPICS);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const PROCESSES = 2;

interface Server {
  child: ChildProcess;
  port: number;
  pid: number;
}

interface Result {
  topics: number;
  connectionsPerProcess: number;
  rssPerProcess: number;
  heapPerProcess: number;
  bytesPerTopic: number;
  eventsPerSec: number;
  p99: number;
  published: number;
  delivered: number;
  setupSeconds: number;
  /** Event-loop delay (ms) in the server processes while subscribing every topic: p99 and max, worst process. */
  setupLoopP99: number;
  setupLoopMax: number;
  /** The same while publishing and delivering. */
  loopP99: number;
  loopMax: number;
}

interface LoopDelay {
  p99: number;
  max: number;
}

/** Event-loop delay of every server since the last ask (each histogram starts over): the worst p99 and max. */
async function loopDelays(servers: Server[]): Promise<LoopDelay> {
  const all = await Promise.all(servers.map((s) => ask<LoopDelay>(s.child, 'loop')));
  return {
    p99: Math.max(...all.map((d) => d.p99)),
    max: Math.max(...all.map((d) => d.max)),
  };
}

function startServer(impl: string, redisPort: number, prefix: string): Promise<Server> {
  const child = fork(resolve(__dirname, 'server.ts'), [], {
    env: { ...process.env, IMPL: impl, REDIS_PORT: String(redisPort), PREFIX: prefix },
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((res) => {
    child.once('message', (m: { port: number; pid: number }) =>
      res({ child, port: m.port, pid: m.pid }),
    );
  });
}

function ask<T>(child: ChildProcess, cmd: string): Promise<T> {
  return new Promise((res) => {
    function onMessage(m: { cmd: string }) {
      if (m.cmd !== cmd) return;
      child.off('message', onMessage);
      res(m as T);
    }
    child.on('message', onMessage);
    child.send({ cmd });
  });
}

function stopServer(server: Server): Promise<void> {
  return new Promise((res) => {
    server.child.once('exit', () => res());
    server.child.send({ cmd: 'exit' });
  });
}

/** One subscriber: counts events and their latency (the data is the publish time). */
class Subscriber {
  delivered = 0;
  latencies: number[] = [];
  lastAt = 0;
  private rest = '';
  private req: ReturnType<typeof request> | undefined;
  open(port: number, topic: string): Promise<void> {
    return new Promise((res, rej) => {
      const req = request({ host: '127.0.0.1', port, path: `/${topic}`, agent: false });
      this.req = req;
      req.on('error', rej);
      req.on('response', (r: IncomingMessage) => {
        r.setEncoding('utf8');
        r.on('data', (chunk: string) => this.feed(chunk));
        r.on('error', () => undefined);
        res();
      });
      req.end();
    });
  }
  private feed(chunk: string): void {
    const text = this.rest + chunk;
    const cut = text.lastIndexOf('\n\n');
    if (cut === -1) {
      this.rest = text;
      return;
    }
    this.rest = text.slice(cut + 2);
    const now = Date.now();
    for (const m of text.slice(0, cut).matchAll(/^data: (\d+)$/gm)) {
      this.delivered++;
      this.latencies.push(now - Number(m[1]));
      this.lastAt = now;
    }
  }
  close(): void {
    this.req?.destroy();
  }
}

async function connectionsOf(admin: Redis, pid: number): Promise<number> {
  const list = String(await admin.call('CLIENT', 'LIST'));
  return list.split('\n').filter((line) => line.includes(` name=bench-${pid} `)).length;
}

async function runImpl(impl: 'hub' | 'naive', topics: number, redisPort: number): Promise<Result> {
  const admin = new Redis(redisPort, '127.0.0.1');
  await admin.flushall();
  const prefix = `${impl}:`;
  const started = Date.now();
  const servers: Server[] = [];
  for (let p = 0; p < PROCESSES; p++) servers.push(await startServer(impl, redisPort, prefix));
  const subscribers: Subscriber[] = [];
  // Opened in waves, as a crowd of browsers would arrive.
  for (let i = 0; i < topics; i += 200) {
    const wave: Promise<void>[] = [];
    for (let j = i; j < Math.min(topics, i + 200); j++) {
      const s = new Subscriber();
      subscribers.push(s);
      wave.push(s.open(servers[j % PROCESSES]!.port, `t${j}`));
    }
    await Promise.all(wave);
  }
  for (;;) {
    const counts = await Promise.all(servers.map((s) => ask<{ count: number }>(s.child, 'count')));
    if (counts.reduce((a, c) => a + c.count, 0) >= topics) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const setupSeconds = (Date.now() - started) / 1000;
  const setupLoop = await loopDelays(servers);
  const connections = await Promise.all(servers.map((s) => connectionsOf(admin, s.pid)));
  const memory = await Promise.all(
    servers.map((s) => ask<{ rss: number; heap: number }>(s.child, 'memory')),
  );
  // From here on: the publishing phase only (the GC above is not counted).
  await loopDelays(servers);

  // Full speed: 64 appends in flight, random topics, for SECONDS.
  const publisher = new Redis(redisPort, '127.0.0.1');
  const logs = new RedisStreamLogs({ client: publisher, prefix });
  let published = 0;
  const t0 = Date.now();
  const until = t0 + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (Date.now() < until) {
        const topic = `t${Math.floor(Math.random() * topics)}`;
        await logs.log(topic).append({ data: String(Date.now()) });
        published++;
      }
    }),
  );
  const drainUntil = Date.now() + 10_000;
  const delivered = () => subscribers.reduce((a, s) => a + s.delivered, 0);
  while (delivered() < published && Date.now() < drainUntil)
    await new Promise((r) => setTimeout(r, 20));
  const lastAt = Math.max(...subscribers.map((s) => s.lastAt));
  const total = delivered();
  const latencies = subscribers.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? Number.NaN;
  const loop = await loopDelays(servers);

  for (const s of subscribers) s.close();
  await Promise.all(servers.map(stopServer));
  await logs.close();
  publisher.disconnect();
  admin.disconnect();
  const rss = mean(memory.map((m) => m.rss));
  const heap = mean(memory.map((m) => m.heap));
  return {
    topics,
    connectionsPerProcess: mean(connections),
    rssPerProcess: rss,
    heapPerProcess: heap,
    bytesPerTopic: (heap * PROCESSES) / topics,
    eventsPerSec: total / ((lastAt - t0) / 1000),
    p99,
    published,
    delivered: total,
    setupSeconds,
    setupLoopP99: setupLoop.p99,
    setupLoopMax: setupLoop.max,
    loopP99: loop.p99,
    loopMax: loop.max,
  };
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

async function startRedisServer(): Promise<{ port: number; stop: () => void }> {
  const probe = createNetServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxclients',
      '19000',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  await new Promise<void>((res, rej) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('Ready to accept connections')) res();
    });
    child.once('exit', (code) => rej(new Error(`redis-server exited ${code}`)));
  });
  return { port, stop: () => child.kill('SIGKILL') };
}

function fmt(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en') : n.toFixed(2);
}

async function main(): Promise<void> {
  console.log(
    `bench/channels: ${TOPICS} topics (naive: ${NAIVE_TOPICS}) × 1 subscriber, ${PROCESSES} processes, ${SECONDS}s publishing`,
  );
  const redis = await startRedisServer();
  try {
    const hub = await runImpl('hub', TOPICS, redis.port);
    const naive = await runImpl('naive', NAIVE_TOPICS, redis.port);
    const rows: [string, keyof Result, string][] = [
      ['Redis connections per process', 'connectionsPerProcess', 'lower is better'],
      ['RSS per process (bytes)', 'rssPerProcess', 'lower is better'],
      ['heap+external per process after GC (bytes)', 'heapPerProcess', 'lower is better'],
      ['heap+external per topic (bytes)', 'bytesPerTopic', 'lower is better'],
      ['events/s delivered', 'eventsPerSec', 'higher is better'],
      ['p99 latency at full speed (ms)', 'p99', 'lower is better'],
      ['setup: subscribe every topic (s)', 'setupSeconds', 'lower is better'],
      ['event-loop delay p99 while subscribing (ms)', 'setupLoopP99', 'lower is better'],
      ['event-loop delay max while subscribing (ms)', 'setupLoopMax', 'lower is better'],
      ['event-loop delay p99 while publishing (ms)', 'loopP99', 'lower is better'],
      ['event-loop delay max while publishing (ms)', 'loopMax', 'lower is better'],
    ];
    console.log(['metric', 'createChannels', 'channel per topic', 'ratio (hub/naive)'].join(' | '));
    const ratios: Record<string, number> = {};
    for (const [name, key, note] of rows) {
      const ratio = hub[key] / naive[key];
      ratios[key] = Number(ratio.toPrecision(3));
      console.log(
        [name, fmt(hub[key]), fmt(naive[key]), `${ratio.toPrecision(3)}x (${note})`].join(' | '),
      );
    }
    console.log(
      `delivered/published: hub ${hub.delivered}/${hub.published}, naive ${naive.delivered}/${naive.published}`,
    );
    console.log('Loopback on a shared, noisy machine: compare ratios, not absolute numbers.');
    console.log(JSON.stringify({ bench: 'channels', seconds: SECONDS, hub, naive, ratios }));
  } finally {
    redis.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
