/**
 * One benchmark server, run in a child process so its RSS is its own:
 * `server.ts <variant> <payload>`. Reports its port, then on request its
 * baseline and peak RSS, over IPC.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express5 from 'express';
import express4 from 'express4';
import { createProxyMiddleware, responseInterceptor } from 'http-proxy-middleware';
import { shareShape } from '../../src/core/shape';
import { built } from '../built';

const { responseTee } = built<typeof import('../../src/tee')>('tee');

type Variant =
  | 'none'
  | 'wrap-only'
  | 'shape-only'
  | 'tee'
  | 'tee-sha256'
  | 'proxy'
  | 'proxy-tee'
  | 'proxy-shape'
  | 'proxy-interceptor';
type Payload = 'json' | 'stream';

const variant = process.argv[2] as Variant;
/** `BENCH_EXPRESS=4` runs every variant on Express 4 instead of 5. */
const express = (process.env.BENCH_EXPRESS === '4' ? express4 : express5) as typeof express5;
const payload = process.argv[3] as Payload;
const STREAM_BYTES = Number(process.env.TEE_STREAM_BYTES ?? 256 * 1024 * 1024);
const JSON_BODY = {
  items: Array.from({ length: 20 }, (_, i) => ({ id: i, name: `item-${i}-xxxxxxxxxxxxxxxx` })),
};
const piece = Buffer.alloc(64 * 1024, 120);
let records = 0;

function countRecord(): void {
  records++;
}

function origin(_req: IncomingMessage, res: ServerResponse): void {
  if (payload === 'json') {
    const body = JSON.stringify(JSON_BODY);
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('content-length', Buffer.byteLength(body));
    res.end(body);
    return;
  }
  res.setHeader('content-type', 'application/octet-stream');
  res.setHeader('content-length', STREAM_BYTES);
  let left = STREAM_BYTES;
  function pump(): void {
    while (left > 0) {
      const n = Math.min(piece.length, left);
      left -= n;
      const ok = res.write(n === piece.length ? piece : piece.subarray(0, n));
      if (!ok && left > 0) return void res.once('drain', pump);
    }
    res.end();
  }
  pump();
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

type Method = (...args: unknown[]) => unknown;

/**
 * The floor of the approach: wrap `write`, `end` and `flushHeaders` on the
 * instance with pass-throughs and restore them on `'close'`, nothing else.
 * Any per-instance tee on Express pays at least this.
 */
function wrapOnly(_req: IncomingMessage, res: ServerResponse, next: () => void): void {
  const target = res as unknown as Record<'write' | 'end' | 'flushHeaders', Method>;
  const { write, end, flushHeaders } = target;
  target.write = function passWrite(this: unknown, ...args: unknown[]) {
    return Reflect.apply(write, this, args);
  };
  target.end = function passEnd(this: unknown, ...args: unknown[]) {
    return Reflect.apply(end, this, args);
  };
  target.flushHeaders = function passFlush(this: unknown, ...args: unknown[]) {
    return Reflect.apply(flushHeaders, this, args);
  };
  res.on('close', function restore() {
    target.write = write;
    target.end = end;
    target.flushHeaders = flushHeaders;
  });
  next();
}

/**
 * What the tee does to an Express response before wrapping it, and nothing
 * else: it gives the response a hidden class V8 shares across requests
 * (`shareShape`, src/core/shape.ts). The floor for what the tee's own work
 * costs, since this step alone makes an Express response cheaper.
 */
function shapeOnly(_req: IncomingMessage, res: ServerResponse, next: () => void): void {
  shareShape(res, 'req');
  next();
}

async function main(): Promise<void> {
  const app = express();
  if (variant === 'wrap-only') app.use(wrapOnly);
  if (variant === 'shape-only') app.use(shapeOnly);
  if (variant === 'tee') app.use(responseTee({ onFinish: countRecord }));
  if (variant === 'tee-sha256') app.use(responseTee({ onFinish: countRecord, hash: 'sha256' }));
  if (variant.startsWith('proxy')) {
    const upstreamPort = await listen(http.createServer(origin));
    const target = `http://127.0.0.1:${upstreamPort}`;
    if (variant === 'proxy-tee') app.use(responseTee({ onFinish: countRecord }));
    if (variant === 'proxy-shape') app.use(shapeOnly);
    if (variant === 'proxy-interceptor') {
      app.use(
        createProxyMiddleware({
          target,
          selfHandleResponse: true,
          on: {
            proxyRes: responseInterceptor(async function keep(buffer) {
              countRecord();
              return buffer;
            }),
          },
        }),
      );
    } else app.use(createProxyMiddleware({ target }));
  } else app.use(origin);
  const port = await listen(http.createServer(app));
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(function sample() {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 10);
  let cpuMark = process.cpuUsage();
  process.on('message', function report(message) {
    if (message === 'mark') cpuMark = process.cpuUsage();
    if (message === 'report') {
      peak = Math.max(peak, process.memoryUsage().rss);
      const cpu = process.cpuUsage(cpuMark);
      process.send?.({
        baseline,
        peak,
        maxRSS: process.resourceUsage().maxRSS * 1024,
        records,
        cpuMicros: cpu.user + cpu.system,
      });
    }
    if (message === 'exit') {
      clearInterval(sampler);
      process.exit(0);
    }
  });
  process.send?.({ port });
}

void main();
// Exit cleanly on SIGTERM (so `node --cpu-prof` writes its profile).
process.on('SIGTERM', function stop(): void {
  process.exit(0);
});
