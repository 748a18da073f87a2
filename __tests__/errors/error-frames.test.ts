import type { IncomingMessage, ServerResponse } from 'node:http';
import request from 'supertest';
import { ensureLocals } from '../../src/core/locals';
import type { RequestHandler } from '../../src/core/types';
import { errorFrames, HttpError } from '../../src/errors';
import { FLAVOURS, mount } from '../helpers/harness';

/** A trivial middleware: proves the chain order and `res.locals` on every flavour. */
const stamp: RequestHandler = function stamp(_req, res, next) {
  ensureLocals(res).stamp = 'stamped';
  next();
};

function readLocals(res: ServerResponse): Record<string, unknown> {
  return (res as ServerResponse & { locals: Record<string, unknown> }).locals;
}

describe.each(FLAVOURS)('harness and errorFrames on %s', (flavour) => {
  test('middlewares run in order and res.locals exists', async () => {
    const app = await mount(flavour, {
      use: [stamp],
      handler: (_req, res) => res.end(String(readLocals(res).stamp)),
    });
    const res = await request(app.server).get('/any/path?x=1');
    expect(res.status).toBe(200);
    expect(res.text).toBe('stamped');
  });

  test('an HttpError becomes its status and an ErrorFrame with the trace id', async () => {
    const app = await mount(flavour, {
      use: [
        (_req, _res, next) =>
          next(
            new HttpError(413, 'entity.too.large', 'request entity too large', {
              limit: 10,
              received: 20,
            }),
          ),
      ],
    });
    const res = await request(app.server)
      .post('/')
      .set('x-request-id', 'req-42')
      .send('x'.repeat(20));
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.body).toEqual({
      code: 'ENTITY_TOO_LARGE',
      message: 'request entity too large',
      trace_id: 'req-42',
    });
    expect(app.errors).toHaveLength(1);
    expect(app.errors[0]).toMatchObject({ type: 'entity.too.large', limit: 10, received: 20 });
  });

  test('a plain error is a 500 whose message is not exposed', async () => {
    const app = await mount(flavour, {
      expectErrors: true,
      handler: () => {
        throw new Error('database password is hunter2');
      },
    });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await request(app.server).get('/').set('traceparent', traceparent);
    expect(res.status).toBe(500);
    expect(res.body).toEqual({
      code: 'INTERNAL_SERVER_ERROR',
      message: 'Internal Server Error',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
    });
  });

  test('an async handler rejection reaches the error handler', async () => {
    const app = await mount(flavour, {
      handler: async () => {
        await Promise.resolve();
        throw new HttpError(409, 'state.conflict', 'already exists');
      },
    });
    const res = await request(app.server).put('/');
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('STATE_CONFLICT');
    expect(res.body.trace_id).toMatch(/^[0-9a-f]{32}$/);
  });

  test('error headers such as Retry-After are set', async () => {
    const app = await mount(flavour, {
      use: [
        (_req, _res, next) =>
          next(new HttpError(503, 'pool.exhausted', 'busy', { headers: { 'Retry-After': '2' } })),
      ],
    });
    const res = await request(app.server).get('/');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('2');
    expect(res.body.message).toBe('Service Unavailable');
    expect(res.body.code).toBe('POOL_EXHAUSTED');
  });
});

describe('errorFrames details', () => {
  test('HEAD gets the status and headers but no body', async () => {
    const app = await mount('express5', {
      use: [(_req, _res, next) => next(new HttpError(429, 'rate.limited'))],
    });
    const res = await request(app.server).head('/');
    expect(res.status).toBe(429);
    expect(res.text).toBeUndefined();
    expect(Number(res.headers['content-length'])).toBeGreaterThan(0);
  });

  test('an unread request body (within drainLimit) is drained before the answer, so the client is not cut off', async () => {
    let bytesSeen = 0;
    const app = await mount('http', {
      use: [
        (req, _res, next) => {
          req.on('data', (chunk: Buffer) => {
            bytesSeen += chunk.length;
          });
          req.pause();
          next(new HttpError(400, 'request.rejected', 'rejected before reading'));
        },
      ],
    });
    const body = Buffer.alloc(768 * 1024, 1);
    const res = await request(app.server).post('/').set('Connection', 'keep-alive').send(body);
    expect(res.status).toBe(400);
    expect(res.headers.connection).toBe('keep-alive');
    expect(bytesSeen).toBe(body.length);
  });

  test('an error after an event stream started ends it with an SSE error event', async () => {
    const app = await mount('express5', {
      handler: async (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: one\n\n');
        throw new HttpError(502, 'upstream.failed', 'upstream went away');
      },
    });
    const res = await request(app.server).get('/').set('x-request-id', 'sse-1');
    expect(res.status).toBe(200);
    expect(res.text).toBe(
      'data: one\n\nevent: error\ndata: {"code":"UPSTREAM_FAILED","message":"Bad Gateway","trace_id":"sse-1"}\n\n',
    );
  });

  test('an error after an NDJSON stream started ends it with an error line', async () => {
    const app = await mount('connect', {
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.write('{"n":1}\n');
        throw new HttpError(400, 'bad.cursor', 'bad cursor');
      },
    });
    const res = await request(app.server).get('/').set('x-request-id', 'nd-1');
    expect(res.text).toBe(
      '{"n":1}\n{"error":{"code":"BAD_CURSOR","message":"bad cursor","trace_id":"nd-1"}}\n',
    );
  });

  test('an error after other headers went out closes the connection rather than hanging', async () => {
    const app = await mount('express4', {
      expectErrors: true,
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('partial');
        throw new Error('boom');
      },
    });
    await expect(request(app.server).get('/')).rejects.toThrow();
  });

  test('5xx errors are logged once through the injected logger with the trace id', async () => {
    const lines: string[] = [];
    const app = await mount('express5', {
      expectErrors: true,
      handler: () => {
        throw new Error('kaput');
      },
      errorHandler: errorFrames({
        logger: { warn: (m, e) => lines.push(`${m} | ${(e as Error).message}`) },
      }),
    });
    await request(app.server).get('/x').set('x-request-id', 'log-1');
    expect(lines).toEqual(['GET /x failed with 500 (trace log-1) | kaput']);
  });

  test('bad options throw a TypeError naming them', () => {
    expect(() => errorFrames({ log5xx: 'yes' as unknown as boolean })).toThrow(
      new TypeError('option log5xx must be a boolean, got "yes"'),
    );
    expect(() => errorFrames({ logger: {} as never })).toThrow(/option logger/);
    expect(() => errorFrames({ loger: 1 } as never)).toThrow(/unknown option loger/);
  });
});

test('the node:http chain passes the request to a handler untouched', async () => {
  const seen: string[] = [];
  const app = await mount('http', {
    handler: (req: IncomingMessage, res: ServerResponse) => {
      seen.push(`${req.method} ${req.url}`);
      res.end('ok');
    },
  });
  await request(app.server).delete('/a/b?c=d');
  expect(seen).toEqual(['DELETE /a/b?c=d']);
});
