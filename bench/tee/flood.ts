/**
 * One memory-flood run through http-proxy-middleware, in a child process
 * started with `--expose-gc`: `flood.ts <variant> '<json scenario>'`, where
 * variant is `proxy` (no capture), `proxy-tee` (responseTee before the proxy)
 * or `proxy-interceptor` (its `responseInterceptor`, which buffers every
 * response whole). `concurrency` responses of `chunks` × `chunk` bytes stream
 * from an upstream in the same process, which then holds them open. Prints,
 * as one JSON line, what the process holds (heap + external after two
 * `global.gc()`, minus before the first request) once the proxy received
 * every byte, and again after the responses ended while an async `onFinish`
 * still holds the records; plus the event-loop delay while the flood streams.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import express from 'express';
import { createProxyMiddleware, responseInterceptor } from 'http-proxy-middleware';
import { built } from '../built';

const { responseTee } = built<typeof import('../../src/tee')>('tee');

interface Scenario {
  chunk: number;
  chunks: number;
  concurrency: number;
  maxBytes: number;
  tailBytes: number;
  budget: number;
}

type Variant = 'proxy' | 'proxy-tee' | 'proxy-interceptor';
const variant = process.argv[2] as Variant;
const scenario = JSON.parse(process.argv[3] ?? '{}') as Scenario;
const gc = (globalThis as { gc?: () => void }).gc!;
const total = scenario.chunk * scenario.chunks;

function held(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

const source = Buffer.alloc(scenario.chunk, 0x61);
let release: () => void = () => undefined;
const released = new Promise<void>((resolve) => {
  release = resolve;
});

async function upstream(_req: IncomingMessage, res: ServerResponse): Promise<void> {
  res.setHeader('content-type', 'application/octet-stream');
  // Chunked, no Content-Length: the proxy sees the response complete only at res.end().
  for (let i = 0; i < scenario.chunks; i++) {
    if (!res.write(source)) await new Promise((resolve) => res.once('drain', resolve));
  }
  await released;
  res.end();
}

let received = 0;
let records = 0;
let wake: () => void = () => undefined;
let settleOnFinish: () => void = () => undefined;
const onFinishSettled = new Promise<void>((resolve) => {
  settleOnFinish = resolve;
});
const kept: unknown[] = [];

function countProxied(proxyRes: IncomingMessage): void {
  proxyRes.on('data', function count(c: Buffer) {
    received += c.length;
    wake();
  });
}

const tee = responseTee({
  maxBytes: scenario.maxBytes,
  tailBytes: scenario.tailBytes,
  maxInFlightBytes: scenario.budget,
  onFinish(record) {
    kept.push(record);
    records++;
    wake();
    return onFinishSettled;
  },
});

function until(done: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    if (done()) return resolve();
    wake = () => {
      if (done()) resolve();
    };
  });
}

function wave(port: number): Promise<void>[] {
  return Array.from(
    { length: scenario.concurrency },
    (_, i) =>
      new Promise<void>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port, path: `/${i}`, agent: false }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
      }),
  );
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

async function main(): Promise<void> {
  const upstreamServer = http.createServer((req, res) => void upstream(req, res));
  const target = `http://127.0.0.1:${await listen(upstreamServer)}`;
  const app = express();
  if (variant === 'proxy-tee') app.use(tee);
  if (variant === 'proxy-interceptor') {
    const intercept = responseInterceptor(async function keep(buffer) {
      records++;
      wake();
      return buffer;
    });
    app.use(
      createProxyMiddleware({
        target,
        selfHandleResponse: true,
        on: {
          proxyRes(proxyRes, req, res) {
            countProxied(proxyRes);
            return intercept(proxyRes, req, res);
          },
        },
      }),
    );
  } else app.use(createProxyMiddleware({ target, on: { proxyRes: countProxied } }));
  const server = http.createServer(app);
  const port = await listen(server);
  const baseline = held();
  const n = scenario.concurrency;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const ends = wave(port);
  await until(() => received >= n * total);
  // Event-loop delay while the flood streams (not during the measurements' forced GCs).
  delay.disable();
  const streaming = held() - baseline;
  const inFlight = variant === 'proxy-tee' ? tee.stats().inFlightBytes : 0;
  release();
  await Promise.all(ends);
  await until(() => variant === 'proxy' || records >= n);
  const ended = held() - baseline;
  settleOnFinish();
  process.stdout.write(
    `${JSON.stringify({
      variant,
      streaming,
      ended,
      inFlight,
      records,
      delayP99Ms: delay.percentile(99) / 1e6,
      delayMaxMs: delay.max / 1e6,
    })}\n`,
  );
  server.closeAllConnections();
  upstreamServer.closeAllConnections();
  process.exit(0);
}

void main();
