import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import bodyParser2 from 'body-parser';
import bodyParser1 from 'body-parser1';
import { createProxyMiddleware } from 'http-proxy-middleware';
import multer from 'multer';
import request from 'supertest';
import { BufferPool, type RereadableBody, rereadableBody } from '../../src/body';
import type { RequestHandler } from '../../src/core/types';
import { FLAVOURS, mount } from '../helpers/harness';
import { post, waitFor } from './util';

type Req = IncomingMessage & { body?: unknown; file?: { buffer: Buffer }; files?: unknown };

function bodyOf(res: ServerResponse): RereadableBody {
  const b = (res as ServerResponse & { locals: { body?: RereadableBody } }).locals.body;
  if (b === undefined) throw new Error('no res.locals.body');
  return b;
}

function collect(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sha(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

function json(res: ServerResponse, value: unknown): void {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(value));
}

const payload = {
  hello: 'wörld',
  n: [1, 2, 3],
  big: createHash('sha512').update('seed').digest('hex').repeat(1).padEnd(0) + noise(200_000 - 128),
};

function noise(n: number): string {
  let out = '';
  let x = 12345;
  while (out.length < n) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out += x.toString(36);
  }
  return out.slice(0, n);
}
const payloadText = JSON.stringify(payload);

function pool(): BufferPool {
  return new BufferPool({ poison: true });
}

describe.each(FLAVOURS)('rereadableBody on %s', (flavour) => {
  test('res.locals.body gives buffer, text, json (cached), stream, copy, length', async () => {
    const mw = rereadableBody({ pool: pool() });
    const app = await mount(flavour, {
      use: [mw],
      handler: async (_req, res) => {
        const body = bodyOf(res);
        const first = body.json();
        const streamed = await collect(body.stream() as unknown as IncomingMessage);
        const again = await collect(body.stream() as unknown as IncomingMessage);
        json(res, {
          length: body.length,
          text: body.text() === payloadText,
          json: (body.json() as typeof payload).hello,
          cached: Object.is(first, body.json()),
          buffer: sha(body.buffer()),
          stream: sha(streamed),
          again: sha(again),
          copy: sha(body.copy()),
          released: body.released,
        });
      },
    });
    const res = await request(app.server)
      .post('/')
      .set('content-type', 'application/json')
      .send(payloadText);
    const expected = sha(Buffer.from(payloadText));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      length: Buffer.byteLength(payloadText),
      text: true,
      json: 'wörld',
      cached: true,
      buffer: expected,
      stream: expected,
      again: expected,
      copy: expected,
      released: false,
    });
    await waitFor(() => mw.pool.stats().inUse === 0);
  });

  test('express.json() from body-parser 1 and 2 read the same bytes after it', async () => {
    for (const parser of [bodyParser1.json({ limit: '1mb' }), bodyParser2.json({ limit: '1mb' })]) {
      const app = await mount(flavour, {
        use: [rereadableBody(), parser as unknown as RequestHandler],
        handler: (req, res) =>
          json(res, {
            hello: (req as Req & { body: typeof payload }).body.hello,
            big: (req as Req & { body: typeof payload }).body.big.length,
          }),
      });
      const res = await request(app.server)
        .post('/')
        .set('content-type', 'application/json')
        .send(payloadText);
      expect(res.body).toEqual({ hello: 'wörld', big: 200_000 });
    }
  });

  test('a gzip body is inflated once; downstream sees plain bytes with a fixed Content-Length', async () => {
    const app = await mount(flavour, {
      use: [rereadableBody(), bodyParser2.json({ limit: '1mb' }) as unknown as RequestHandler],
      handler: (req, res) =>
        json(res, {
          hello: (req as Req & { body: typeof payload }).body.hello,
          encoding: req.headers['content-encoding'] ?? null,
          length: req.headers['content-length'],
        }),
    });
    const res = await post(app.url, gzipSync(payloadText), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(res.json).toEqual({
      hello: 'wörld',
      encoding: null,
      length: String(Buffer.byteLength(payloadText)),
    });
  });

  test('req.pipe() and for await read identical bytes, twice in one chain', async () => {
    const app = await mount(flavour, {
      use: [rereadableBody()],
      handler: async (req, res) => {
        const first = await collect(req);
        const parts: Buffer[] = [];
        for await (const c of req) parts.push(c as Buffer);
        const piped = await new Promise<Buffer>((resolve) => {
          const chunks: Buffer[] = [];
          const { PassThrough } = require('node:stream') as typeof import('node:stream');
          const sink = new PassThrough();
          sink.on('data', (c: Buffer) => chunks.push(c));
          sink.on('end', () => resolve(Buffer.concat(chunks)));
          req.pipe(sink);
        });
        json(res, { first: sha(first), iter: sha(Buffer.concat(parts)), piped: sha(piped) });
      },
    });
    const buf = Buffer.from(payloadText);
    const res = await post(app.url, buf, { 'content-type': 'application/octet-stream' });
    expect(res.json).toEqual({ first: sha(buf), iter: sha(buf), piped: sha(buf) });
  });
});

describe.each(['express4', 'express5'] as const)(
  'for await right after a body parser on %s (issue 15)',
  (flavour) => {
    test.each([
      ['body-parser 1', () => bodyParser1.json({ limit: '1mb' })],
      ['body-parser 2', () => bodyParser2.json({ limit: '1mb' })],
    ])(
      '%s, then for await (const c of req) in the next handler, reads the same bytes',
      async (_name, parser) => {
        const mw = rereadableBody({ pool: pool() });
        const app = await mount(flavour, {
          use: [mw, parser() as unknown as RequestHandler],
          handler: async (req, res) => {
            // Runs in the same turn as the parser's 'end': nothing between them re-arms req.
            const parts: Buffer[] = [];
            for await (const c of req) parts.push(c as Buffer);
            const again: Buffer[] = [];
            for await (const c of req) again.push(c as Buffer);
            json(res, {
              hello: (req as Req & { body: typeof payload }).body.hello,
              iter: sha(Buffer.concat(parts)),
              again: sha(Buffer.concat(again)),
            });
          },
        });
        const buf = Buffer.from(payloadText);
        const res = await post(app.url, buf, { 'content-type': 'application/json' });
        expect(app.errors).toEqual([]);
        expect(res.json).toEqual({ hello: 'wörld', iter: sha(buf), again: sha(buf) });
        await waitFor(() => mw.pool.stats().inUse === 0);
      },
    );
  },
);

test("on node:http, req.pipe() then for await in req's own 'end' handler: the pipe's destination ends, the loop reads the bytes (issue 15)", async () => {
  const { PassThrough } = await import('node:stream');
  const mw = rereadableBody({ pool: pool() });
  const app = await mount('http', {
    use: [mw],
    handler: async (req, res) => {
      const sink = new PassThrough();
      const piped: Buffer[] = [];
      sink.on('data', (c: Buffer) => piped.push(c));
      const sinkEnded = new Promise<void>((resolve) => sink.on('end', resolve));
      const iterated = new Promise<Buffer>((resolve, reject) => {
        req.once('end', () => {
          (async () => {
            const parts: Buffer[] = [];
            for await (const c of req) parts.push(c as Buffer);
            return Buffer.concat(parts);
          })().then(resolve, reject);
        });
      });
      req.pipe(sink);
      const iter = await iterated;
      await sinkEnded;
      json(res, { piped: sha(Buffer.concat(piped)), iter: sha(iter) });
    },
  });
  const buf = Buffer.from(payloadText);
  const res = await post(app.url, buf, { 'content-type': 'application/octet-stream' });
  expect(res.json).toEqual({ piped: sha(buf), iter: sha(buf) });
  await waitFor(() => mw.pool.stats().inUse === 0);
});

describe('downstream consumers (express 5)', () => {
  test.each([
    ['raw v1', bodyParser1.raw({ type: '*/*', limit: '1mb' })],
    ['raw v2', bodyParser2.raw({ type: '*/*', limit: '1mb' })],
  ])('%s gets the identical bytes', async (_name, parser) => {
    const buf = Buffer.from(Array.from({ length: 70_000 }, (_, i) => i % 256));
    const app = await mount('express5', {
      use: [rereadableBody(), parser as unknown as RequestHandler],
      handler: (req, res) => json(res, { sha: sha((req as Req).body as Buffer) }),
    });
    const res = await post(app.url, buf, { 'content-type': 'application/octet-stream' });
    expect(res.json).toEqual({ sha: sha(buf) });
  });

  test.each([
    ['text v1', bodyParser1.text()],
    ['text v2', bodyParser2.text()],
  ])('%s gets the text', async (_name, parser) => {
    const app = await mount('express4', {
      use: [rereadableBody(), parser as unknown as RequestHandler],
      handler: (req, res) => json(res, { text: (req as Req).body }),
    });
    const res = await request(app.server).post('/').set('content-type', 'text/plain').send('héllo');
    expect(res.body).toEqual({ text: 'héllo' });
  });

  test.each([
    ['urlencoded v1', bodyParser1.urlencoded({ extended: false })],
    ['urlencoded v2', bodyParser2.urlencoded({ extended: false })],
  ])('%s gets the form', async (_name, parser) => {
    const app = await mount('express5', {
      use: [rereadableBody(), parser as unknown as RequestHandler],
      handler: (req, res) => json(res, { form: (req as Req).body, raw: bodyOf(res).text() }),
    });
    const res = await request(app.server).post('/').type('form').send('a=1&b=two');
    expect(res.body).toEqual({ form: { a: '1', b: 'two' }, raw: 'a=1&b=two' });
  });

  test('multer reads a multipart upload after it', async () => {
    const upload = multer({ storage: multer.memoryStorage() });
    const file = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 256));
    const app = await mount('express5', {
      use: [rereadableBody(), upload.single('file') as unknown as RequestHandler],
      handler: (req, res) =>
        json(res, {
          file: sha((req as Req).file?.buffer ?? Buffer.alloc(0)),
          field: ((req as Req).body as Record<string, string>).name,
          raw: bodyOf(res).text().includes('name="name"'),
        }),
    });
    const res = await request(app.server)
      .post('/')
      .field('name', 'zed')
      .attach('file', file, 'f.bin');
    expect(res.body).toEqual({ file: sha(file), field: 'zed', raw: true });
  });

  test('http-proxy-middleware (no fixRequestBody) forwards identical bytes, after express.json() read them', async () => {
    const upstream = await listen(async (req, res) => {
      const buf = await collect(req);
      json(res, { sha: sha(buf), length: req.headers['content-length'] ?? null });
    });
    const proxy = createProxyMiddleware({ target: upstream.url });
    const app = await mount('express5', {
      use: [
        rereadableBody(),
        bodyParser2.json({ limit: '1mb' }) as unknown as RequestHandler,
        proxy as unknown as RequestHandler,
      ],
    });
    const buf = Buffer.from(payloadText);
    const res = await post(app.url, buf, { 'content-type': 'application/json' });
    upstream.server.close();
    expect(res.json).toEqual({ sha: sha(buf), length: String(buf.length) });
  });

  test('a type option skips other media types untouched', async () => {
    const app = await mount('express5', {
      use: [rereadableBody({ type: 'json' })],
      handler: async (req, res) =>
        json(res, {
          hasBody:
            bodyOf.length > 0 && 'body' in (res as ServerResponse & { locals: object }).locals,
          text: (await collect(req)).toString(),
        }),
    });
    const res = await request(app.server).post('/').set('content-type', 'text/plain').send('plain');
    expect(res.body).toEqual({ hasBody: false, text: 'plain' });
  });

  test('a bodiless GET passes straight through', async () => {
    const app = await mount('express5', {
      use: [rereadableBody()],
      handler: (_req, res) =>
        json(res, { body: 'body' in (res as ServerResponse & { locals: object }).locals }),
    });
    const res = await request(app.server).get('/');
    expect(res.body).toEqual({ body: false });
  });
});

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
