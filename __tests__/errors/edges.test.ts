import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import createError from 'http-errors';
import request from 'supertest';
import { CHANNELS, type SseCloseMessage } from '../../src/core/instrument';
import { ensureLocals } from '../../src/core/locals';
import type { RequestHandler } from '../../src/core/types';
import { errorFrames, HttpError } from '../../src/errors';
import { type NdjsonStream, ndjson, type SseStream, sse } from '../../src/sse';
import { FLAVOURS, mount } from '../helpers/harness';
import { connections, eventually, openStream } from '../sse/helpers';

const MiB = 1024 * 1024;

/** Fails before reading anything, as rateLimit/auth/routing do. */
function failEarly(err: unknown): RequestHandler {
  return function rejectUnread(_req, _res, next) {
    next(err);
  };
}

interface RawReply {
  /** The raw response (head and body) as received. */
  text: string;
  /** Body bytes the client wrote before it saw the answer. */
  sent: number;
  /** Whether the server closed the connection. */
  closedByServer: boolean;
}

/**
 * A hostile-sized upload over a raw socket: announces `announced` bytes and
 * writes them in 64 KiB chunks (with backpressure) until an answer arrives,
 * but never more than `cap` bytes — a server that insists on the whole body
 * never answers.
 */
async function upload(url: string, announced: number, cap: number): Promise<RawReply> {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let text = '';
  let answered = false;
  let closedByServer = false;
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => {
    text += chunk;
    if (text.includes('\r\n\r\n')) answered = true;
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    // EPIPE/ECONNRESET once the server stops reading: expected, the answer is what counts.
    // Either is the server closing too: closing a socket with unread bytes sends RST rather than
    // FIN, and Node 24 closes sooner after the answer than Node 20, so the client sees the reset
    // (EPIPE on its next write, or ECONNRESET) instead of an 'end'.
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') closedByServer = true;
  });
  const closed = new Promise<void>((resolve) => {
    socket.on('end', () => {
      closedByServer = true;
    });
    socket.on('close', () => resolve());
  });
  socket.write(
    `POST /upload HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${announced}\r\n\r\n`,
  );
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let sent = 0;
  while (!answered && sent < cap && !socket.destroyed) {
    sent += chunk.length;
    if (!socket.write(chunk)) await drainedOrClosed(socket, closed);
  }
  await eventually(() => answered, 'an answer');
  await eventually(() => /\r\n\r\n[\s\S]*\}$/.test(text), 'the whole answer');
  socket.end();
  await closed;
  return { text, sent, closedByServer };
}

/** Resolves on `'drain'` or when the socket closes (never rejects: EPIPE is expected). */
function drainedOrClosed(socket: Socket, closed: Promise<void>): Promise<void> {
  return Promise.race([new Promise<void>((resolve) => socket.once('drain', resolve)), closed]);
}

function statusOf(raw: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
}

function headerOf(raw: string, name: string): string | undefined {
  const head = raw.slice(0, raw.indexOf('\r\n\r\n'));
  const line = head.split('\r\n').find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(line.indexOf(':') + 1).trim();
}

function bodyOf(raw: string): unknown {
  return JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
}

describe.each(FLAVOURS)('errorFrames drain limit on %s', (flavour) => {
  test('an early 429 on a large upload is answered after drainLimit bytes, with Connection: close', async () => {
    const app = await mount(flavour, {
      use: [failEarly(new HttpError(429, 'rate.limited', 'slow down'))],
    });
    const reply = await upload(app.url, 64 * MiB, 16 * MiB);
    expect(statusOf(reply.text)).toBe(429);
    expect(headerOf(reply.text, 'connection')).toBe('close');
    expect(bodyOf(reply.text)).toMatchObject({ code: 'RATE_LIMITED', message: 'slow down' });
    // Answered long before the client sent everything it announced (default drainLimit 1mb).
    expect(reply.sent).toBeLessThan(16 * MiB);
    expect(reply.closedByServer).toBe(true);
    await eventually(async () => (await connections(app.server)) === 0, 'no open connection');
  }, 15000);
});

describe('errorFrames drain limit details', () => {
  test('drainLimit: 0 answers a 401 at once, reading no body', async () => {
    let drained = 0;
    const app = await mount('express5', {
      use: [
        function countThenFail(req, _res, next) {
          req.on('data', (c: Buffer) => {
            drained += c.length;
          });
          req.pause();
          next(new HttpError(401, 'auth.required', 'log in first'));
        },
      ],
      errorHandler: errorFrames({ log5xx: false, drainLimit: 0 }),
    });
    const reply = await upload(app.url, 8 * MiB, 4 * MiB);
    expect(statusOf(reply.text)).toBe(401);
    expect(headerOf(reply.text, 'connection')).toBe('close');
    // What arrived with the first read may be seen, no more than one socket read's worth.
    expect(drained).toBeLessThanOrEqual(MiB);
  }, 15000);

  test('a 404 on a body within drainLimit drains it all and keeps the connection', async () => {
    let bytesSeen = 0;
    const app = await mount('connect', {
      use: [
        function countThenFail(req, _res, next) {
          req.on('data', (c: Buffer) => {
            bytesSeen += c.length;
          });
          req.pause();
          next(new HttpError(404, 'route.not.found', 'no such route'));
        },
      ],
      errorHandler: errorFrames({ log5xx: false, drainLimit: '256kb' }),
    });
    const body = Buffer.alloc(200 * 1024, 1);
    const res = await request(app.server).post('/').set('Connection', 'keep-alive').send(body);
    expect(res.status).toBe(404);
    expect(res.headers.connection).toBe('keep-alive');
    expect(bytesSeen).toBe(body.length);
  });

  test('bad drainLimit values throw a TypeError naming the option', () => {
    expect(() => errorFrames({ drainLimit: -1 })).toThrow(/option drainLimit must be a byte size/);
    expect(() => errorFrames({ drainLimit: 'lots' })).toThrow(/option drainLimit/);
    expect(() => errorFrames({ drainLimit: Number.NaN })).toThrow(/option drainLimit/);
    expect(errorFrames({ drainLimit: '64kb' })).toEqual(expect.any(Function));
  });
});

describe.each(FLAVOURS)('errorFrames 5xx exposure on %s', (flavour) => {
  test('a foreign 5xx keeps neither its code nor its headers', async () => {
    const upstream = Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:5432'), {
      status: 502,
      type: 'system',
      code: 'ECONNREFUSED',
      headers: { 'set-cookie': 'upstream_session=secret', 'x-upstream-host': 'db-1.internal' },
    });
    const app = await mount(flavour, { use: [failEarly(upstream)] });
    const res = await request(app.server).get('/').set('x-request-id', 'up-1');
    expect(res.status).toBe(502);
    expect(res.body).toEqual({ code: 'BAD_GATEWAY', message: 'Bad Gateway', trace_id: 'up-1' });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.headers['x-upstream-host']).toBeUndefined();
  });
});

describe('errorFrames 5xx exposure details', () => {
  test('only a streamguard HttpError 5xx keeps its code and headers; an http-errors 503 is foreign', async () => {
    const foreign = createError(503, 'pool of db-1 exhausted', {
      type: 'db.pool',
      code: 'DB_POOL_EXHAUSTED',
      headers: { 'X-Db-Host': 'db-1.internal' },
    });
    const ours = new HttpError(503, 'pool.exhausted', 'pool is full', {
      headers: { 'Retry-After': '1' },
    });
    const card = Object.assign(new Error('card declined'), { status: 402, code: 'CARD_DECLINED' });
    const app = await mount('express4', {
      handler: (req) => {
        throw req.url === '/foreign' ? foreign : req.url === '/ours' ? ours : card;
      },
    });
    const f = await request(app.server).get('/foreign');
    expect(f.status).toBe(503);
    expect(f.body.code).toBe('SERVICE_UNAVAILABLE');
    expect(f.body.message).toBe('Service Unavailable');
    expect(f.headers['x-db-host']).toBeUndefined();
    const o = await request(app.server).get('/ours');
    expect(o.status).toBe(503);
    expect(o.body).toMatchObject({ code: 'POOL_EXHAUSTED', message: 'Service Unavailable' });
    expect(o.headers['retry-after']).toBe('1');
    // A 4xx foreign error still keeps an exposed stable code.
    const c = await request(app.server).get('/card');
    expect(c.status).toBe(402);
    expect(c.body).toMatchObject({ code: 'CARD_DECLINED', message: 'card declined' });
  });
});

describe.each(FLAVOURS)('errorFrames invalid error headers on %s', (flavour) => {
  test('CR/LF in a header value, or a bad header name, is dropped and logged, not thrown', async () => {
    const warnings: string[] = [];
    const err = new HttpError(400, 'request.rejected', 'rejected', {
      headers: {
        'X-Reason': 'bad\r\nSet-Cookie: injected=1',
        'Bad Name': 'x',
        'X-Valid': 'kept',
      },
    });
    const app = await mount(flavour, {
      use: [failEarly(err)],
      errorHandler: errorFrames({ logger: { warn: (m) => warnings.push(m) } }),
    });
    const res = await request(app.server).get('/').set('x-request-id', 'hdr-1');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ code: 'REQUEST_REJECTED', message: 'rejected', trace_id: 'hdr-1' });
    expect(res.headers['x-valid']).toBe('kept');
    expect(res.headers['x-reason']).toBeUndefined();
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(warnings).toEqual([
      'errorFrames dropped an invalid error header (trace hdr-1)',
      'errorFrames dropped an invalid error header (trace hdr-1)',
    ]);
  });
});

function sseOn(res: ServerResponse): SseStream {
  return ensureLocals(res).sse as SseStream;
}

function ndjsonOn(res: ServerResponse): NdjsonStream {
  return ensureLocals(res).sse as NdjsonStream;
}

/** Collects `streamguard:sse:close` messages while `run` runs. */
async function closesDuring(run: () => Promise<void>): Promise<SseCloseMessage[]> {
  const closed: SseCloseMessage[] = [];
  function onClose(message: unknown): void {
    closed.push(message as SseCloseMessage);
  }
  diagnostics.subscribe(CHANNELS.sseClose, onClose);
  try {
    await run();
    await eventually(() => closed.length > 0, 'a close message');
  } finally {
    diagnostics.unsubscribe(CHANNELS.sseClose, onClose);
  }
  return closed;
}

describe.each(FLAVOURS)('errorFrames on an open sse()/ndjson() stream on %s', (flavour) => {
  test('an error thrown by an sse() handler ends the stream through it: reason error', async () => {
    const app = await mount(flavour, {
      use: [sse({ heartbeat: 0 })],
      handler: async (_req: IncomingMessage, res: ServerResponse) => {
        await sseOn(res).send({ data: 'one' });
        throw new HttpError(502, 'upstream.failed', 'upstream went away');
      },
    });
    let text = '';
    const closed = await closesDuring(async () => {
      const s = await openStream(app.url, { headers: { 'x-request-id': 'sse-err' } });
      text = await s.ended;
    });
    expect(text).toBe(
      'data: one\n\nevent: error\ndata: {"code":"UPSTREAM_FAILED","message":"Bad Gateway","trace_id":"sse-err"}\n\n',
    );
    expect(closed).toEqual([expect.objectContaining({ kind: 'sse', reason: 'error', sent: 1 })]);
  });

  test('an error thrown by an ndjson() handler ends the stream through it: reason error', async () => {
    const app = await mount(flavour, {
      use: [ndjson()],
      handler: async (_req: IncomingMessage, res: ServerResponse) => {
        await ndjsonOn(res).send({ n: 1 });
        throw new HttpError(400, 'bad.cursor', 'bad cursor');
      },
    });
    let text = '';
    const closed = await closesDuring(async () => {
      const s = await openStream(app.url, { headers: { 'x-request-id': 'nd-err' } });
      text = await s.ended;
    });
    expect(text).toBe(
      '{"n":1}\n{"error":{"code":"BAD_CURSOR","message":"bad cursor","trace_id":"nd-err"}}\n',
    );
    expect(closed).toEqual([expect.objectContaining({ kind: 'ndjson', reason: 'error' })]);
  });
});

describe('errorFrames on an open stream, details', () => {
  test('events the stream accepted (coalesced, not yet written) go out before the error event', async () => {
    const app = await mount('express5', {
      use: [sse({ heartbeat: 0, coalesce: true })],
      handler: (_req: IncomingMessage, res: ServerResponse) => {
        const stream = sseOn(res);
        stream.send({ data: 'accepted' }).catch(() => undefined);
        throw new HttpError(409, 'state.conflict', 'changed meanwhile');
      },
    });
    const s = await openStream(app.url, { headers: { 'x-request-id': 'co-1' } });
    expect(await s.ended).toBe(
      'data: accepted\n\nevent: error\ndata: {"code":"STATE_CONFLICT","message":"changed meanwhile","trace_id":"co-1"}\n\n',
    );
  });

  test('a foreign 5xx on a stream exposes nothing either, and is logged once', async () => {
    const warnings: string[] = [];
    const app = await mount('http', {
      use: [sse({ heartbeat: 0, logger: { warn: (m) => warnings.push(`sse: ${m}`) } })],
      handler: async (_req: IncomingMessage, res: ServerResponse) => {
        await sseOn(res).send({ data: 'one' });
        throw Object.assign(new Error('ECONNRESET from redis'), {
          status: 503,
          type: 'system',
          code: 'ECONNRESET',
        });
      },
      errorHandler: errorFrames({ logger: { warn: (m) => warnings.push(m) } }),
    });
    const s = await openStream(app.url, { headers: { 'x-request-id': 'f5-1' } });
    expect(await s.ended).toBe(
      'data: one\n\nevent: error\ndata: {"code":"SERVICE_UNAVAILABLE","message":"Service Unavailable","trace_id":"f5-1"}\n\n',
    );
    expect(warnings).toEqual(['GET / failed with 503 (trace f5-1)']);
  });
});
