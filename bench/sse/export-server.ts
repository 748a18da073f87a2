/**
 * The export benchmark's server, run in a child process (see export.ts).
 * `/tick`: an SSE stream that gets an event with a timestamp every
 * `TICK_MS`. `/export?case=pipe|send`: an NDJSON export of `ROWS` rows, by
 * `pipe()` of a Readable or by a loop of `await stream.send()`; while it
 * runs, `perf_hooks.monitorEventLoopDelay` samples the loop, and the
 * figures go to the parent over IPC when the export ends.
 * `STREAMGUARD_SSE_NO_YIELD=1` runs it without the time slice (the
 * behaviour before issue 14).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import type { NdjsonStream, SseStream } from '../../src/sse';
import { built } from '../built';

const { ndjson, sse } = built<typeof import('../../src/sse')>('sse');

const ROWS = Number(process.env.ROWS ?? 150_000);
const TICK_MS = Number(process.env.TICK_MS ?? 10);
const ROW = { id: 0, name: 'row', payload: 'x'.repeat(60) };
const options = { heartbeat: 0, writeTimeout: 0 } as const;
const sseMiddleware = sse(options);
const ndjsonMiddleware = ndjson(options);

function* rows(): Generator<typeof ROW> {
  for (let id = 0; id < ROWS; id++) yield { ...ROW, id };
}

function localsOf(res: ServerResponse): { sse: unknown } {
  return (res as ServerResponse & { locals: { sse: unknown } }).locals;
}

async function runExport(stream: NdjsonStream, kind: string): Promise<void> {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  // The histogram records from its second sample on (reset() starts over): let it start before
  // the export can hold the loop, or a loop held from the start records nothing.
  await new Promise((r) => setTimeout(r, 2));
  const t0 = performance.now();
  if (kind === 'send') for (const row of rows()) await stream.send(row);
  else await stream.pipe(Readable.from(rows()));
  const ms = performance.now() - t0;
  // One more timer turn, so a loop held for the whole export records that stall too.
  await new Promise((r) => setTimeout(r, 5));
  delay.disable();
  stream.close();
  process.send?.({
    cmd: 'exported',
    ms,
    rowsPerSec: ROWS / (ms / 1000),
    delayP99: delay.percentile(99) / 1e6,
    delayMax: delay.max / 1e6,
  });
}

const server = createServer(function route(req, res) {
  const url = new URL(req.url ?? '/', 'http://bench');
  if (url.pathname === '/tick') {
    sseMiddleware(req, res, function ticking() {
      const stream = localsOf(res).sse as SseStream;
      const timer = setInterval(function tick() {
        stream.send({ data: String(performance.timeOrigin + performance.now()) }).catch(() => {});
      }, TICK_MS);
      stream.signal.addEventListener('abort', () => clearInterval(timer));
    });
    return;
  }
  ndjsonMiddleware(req, res, function exporting() {
    void runExport(localsOf(res).sse as NdjsonStream, url.searchParams.get('case') ?? 'pipe');
  });
});

process.on('message', function command(msg: { cmd: string }) {
  if (msg.cmd === 'exit') process.exit(0);
});

server.listen(0, '127.0.0.1', function ready() {
  process.send?.({ cmd: 'ready', port: (server.address() as AddressInfo).port });
});
