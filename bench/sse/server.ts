/**
 * The benchmark's server, run in a child process:
 * `IMPL=streamguard|better-sse|channel-memory|channel-redis` (channel-redis needs `REDIS_PORT`).
 * Commands arrive over IPC: `broadcast` (full speed for `ms`), `memory`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createChannel, createSession } from 'better-sse';
import Redis from 'ioredis';
import type { Channel, SseStream } from '../../src/sse';
import { built } from '../built';

const {
  createChannel: createStreamguardChannel,
  MemoryReplayLog,
  RedisStreamLog,
  serializeEvent,
  sse,
} = built<typeof import('../../src/sse')>('sse');

const impl = process.env.IMPL ?? 'streamguard';
const pad = 'x'.repeat(Number(process.env.EVENT_BYTES ?? 64));

const streams = new Set<SseStream>();
const channel = createChannel();
const streamOptions = {
  heartbeat: 0,
  overflow: 'drop',
  maxBufferedBytes: '256kb',
  writeTimeout: 0,
} as const;
const middleware = sse(streamOptions);

/** streamguard's own channel, over a memory log or a Redis Stream. */
function ourChannel(): Channel | undefined {
  if (impl === 'channel-memory')
    return createStreamguardChannel({ replay: new MemoryReplayLog({ maxEvents: 10_000 }) });
  if (impl !== 'channel-redis') return undefined;
  const client = new Redis(Number(process.env.REDIS_PORT), '127.0.0.1');
  return createStreamguardChannel({
    replay: new RedisStreamLog({ client, key: `bench:${process.pid}`, maxLength: 10_000 }),
  });
}
const sgChannel = ourChannel();
const channelHandler = sgChannel?.handler(streamOptions);

function handleStreamguard(req: IncomingMessage, res: ServerResponse): void {
  middleware(req, res, function registered() {
    const stream = (res as ServerResponse & { locals: { sse: SseStream } }).locals.sse;
    streams.add(stream);
    stream.signal.addEventListener('abort', function forget() {
      streams.delete(stream);
    });
  });
}

async function handleBetterSse(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const session = await createSession(req, res);
  channel.register(session);
}

const responses = new Set<ServerResponse>();

const server = createServer(function route(req, res) {
  responses.add(res);
  res.on('close', function forget() {
    responses.delete(res);
  });
  if (channelHandler !== undefined) channelHandler(req, res, () => undefined);
  else if (impl === 'streamguard') handleStreamguard(req, res);
  else void handleBetterSse(req, res);
});

function payload(i: number): string {
  return `${performance.timeOrigin + performance.now()} ${i} ${pad}`;
}

async function broadcast(ms: number, rate = 0): Promise<number> {
  const start = Date.now();
  const end = start + ms;
  let i = 0;
  while (Date.now() < end) {
    if (rate > 0) {
      const due = start + (i / rate) * 1000;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    }
    if (sgChannel !== undefined) {
      const publishing: Promise<string>[] = [];
      for (let k = 0; k < 20; k++, i++) publishing.push(sgChannel.publish({ data: payload(i) }));
      await Promise.all(publishing);
    }
    for (let k = 0; k < 20 && sgChannel === undefined; k++, i++) {
      if (impl === 'streamguard') {
        const frame = serializeEvent({ data: payload(i) });
        for (const s of streams) s.writeSerialized(frame);
      } else channel.broadcast(payload(i));
    }
    await new Promise((r) => setImmediate(r));
  }
  return i;
}

function memory(): { rss: number; heapUsed: number; external: number; maxBuffered: number } {
  globalThis.gc?.();
  const m = process.memoryUsage();
  let maxBuffered = 0;
  for (const res of responses) maxBuffered = Math.max(maxBuffered, res.writableLength);
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, maxBuffered };
}

process.on('message', async function command(msg: { cmd: string; ms?: number; rate?: number }) {
  if (msg.cmd === 'broadcast') {
    const sent = await broadcast(msg.ms ?? 1000, msg.rate);
    process.send?.({ cmd: 'broadcast', sent, memory: memory() });
  } else if (msg.cmd === 'memory') process.send?.({ cmd: 'memory', memory: memory() });
  else if (msg.cmd === 'exit') process.exit(0);
});

server.listen(0, '127.0.0.1', function ready() {
  process.send?.({ cmd: 'ready', port: (server.address() as AddressInfo).port, memory: memory() });
});
