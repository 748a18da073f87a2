/**
 * One benchmark server, in its own process (so it runs on the other core):
 * `BENCH_MODE` = `ours` | `verify` | `shaped` | `raw` | `floor`. It reports memory over IPC:
 * `start` resets the counters, `stop` answers with requests served,
 * estimated bytes allocated (sum of positive heap+external deltas sampled
 * every 2 ms) and peak RSS.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { shareShape } from '../../src/core/shape';
import { built } from '../built';
import { jsonOf } from './payload';

const { BufferPool, rereadableBody } = built<typeof import('../../src/body')>('body');

const mode = process.env.BENCH_MODE ?? 'ours';
const maxInFlight = process.env.BENCH_MAX_IN_FLIGHT ?? '64mb';
const app = express();
let requests = 0;
/** The pool of `ours`, for its stats in the `held` report. */
let ourPool: InstanceType<typeof BufferPool> | undefined;

type RawRequest = IncomingMessage & { rawBody?: Buffer; body?: unknown };

function answer(res: ServerResponse, value: unknown, raw: number): void {
  requests++;
  const keys = typeof value === 'object' && value !== null ? Object.keys(value).length : 0;
  res.setHeader('content-type', 'application/json');
  res.end(`{"keys":${keys},"bytes":${raw}}`);
}

if (mode === 'floor') {
  // What every contender allocates anyway: the socket's chunks and the parsed
  // objects. The body is drained and the same JSON parsed from a string made
  // once at startup, so neither a copy of the bytes nor the text is counted.
  const texts = new Map<number, string>();
  for (const size of [1024, 64 * 1024, 1024 * 1024]) {
    const text = jsonOf(size);
    texts.set(Buffer.byteLength(text), text);
  }
  app.post('/', function floor(req, res) {
    const length = Number(req.headers['content-length']);
    req.on('end', function drained() {
      const text = texts.get(length);
      answer(res, text === undefined ? undefined : JSON.parse(text), length);
    });
    req.resume();
  });
} else if (mode === 'ours') {
  const pool = new BufferPool({ maxInFlight, maxRetained: '32mb' });
  ourPool = pool;
  app.post('/', rereadableBody({ limit: '2mb', pool }), function ours(_req, res) {
    const body = res.locals.body;
    answer(res, body?.json(), body?.length ?? 0);
  });
} else if (mode === 'verify' || mode === 'shaped') {
  app.post(
    '/',
    // `shaped`: the request first gets the shared hidden class rereadableBody gives it
    // (src/core/shape.ts), so the comparison isolates the rest of the work.
    function maybeShape(req: IncomingMessage, _res: ServerResponse, next: () => void) {
      if (mode === 'shaped') shareShape(req, 'res');
      next();
    },
    express.json({
      limit: '2mb',
      verify: function stash(req: RawRequest, _res: ServerResponse, buf: Buffer): void {
        req.rawBody = buf;
      },
    }),
    function verifyHack(req: RawRequest, res) {
      answer(res, req.body, req.rawBody?.length ?? 0);
    },
  );
} else {
  app.post(
    '/',
    express.raw({ type: '*/*', limit: '2mb' }),
    function rawThenParse(req: RawRequest, res) {
      const buf = req.body as Buffer;
      answer(res, JSON.parse(buf.toString('utf8')), buf.length);
    },
  );
}
app.use(function onError(
  err: { status?: number },
  _req: IncomingMessage,
  res: ServerResponse,
  _next: unknown,
) {
  res.statusCode = err.status ?? 500;
  res.end();
});

let allocated = 0;
/** CPU time is steadier than req/s on a shared machine: µs of this process per request. */
let cpuAtStart = process.cpuUsage();
let peakRss = 0;
let startRss = 0;
let last = 0;
function sample(): void {
  const m = process.memoryUsage();
  const now = m.heapUsed + m.external;
  if (now > last) allocated += now - last;
  last = now;
  if (m.rss > peakRss) peakRss = m.rss;
}
const sampler = setInterval(sample, 2);
sampler.unref();

process.on('message', function onMessage(msg: string): void {
  if (msg === 'start') {
    cpuAtStart = process.cpuUsage();
    globalThis.gc?.();
    allocated = 0;
    requests = 0;
    peakRss = process.memoryUsage().rss;
    startRss = peakRss;
    last = process.memoryUsage().heapUsed + process.memoryUsage().external;
  } else if (msg === 'held') {
    // What the process holds right now, after a full collection: heap + external
    // (ArrayBuffers and Buffers are external), RSS, and the pool's own account.
    globalThis.gc?.();
    const m = process.memoryUsage();
    process.send?.({
      held: m.heapUsed + m.external,
      rss: m.rss,
      pool: ourPool?.stats() ?? null,
      budget: ourPool?.maxInFlight ?? null,
    });
  } else if (msg === 'stop') {
    sample();
    const cpu = process.cpuUsage(cpuAtStart);
    process.send?.({ requests, allocated, peakRss, startRss, cpu: cpu.user + cpu.system });
  }
});

const server = createServer(app);
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', function ready(): void {
  process.send?.({ port: (server.address() as AddressInfo).port });
});
// Exit cleanly on SIGTERM (so `node --cpu-prof` writes its profile).
process.on('SIGTERM', function stop(): void {
  process.exit(0);
});
