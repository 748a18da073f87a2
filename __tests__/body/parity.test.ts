import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpRequest } from 'node:http';
import { gzipSync } from 'node:zlib';
import bodyParser2 from 'body-parser';
import { type RereadableBody, rereadableBody } from '../../src/body';
import type { NextFunction, RequestHandler } from '../../src/core/types';
import { FLAVOURS, type Flavour, mount } from '../helpers/harness';
import { post, waitFor } from './util';

const LIMIT = 1024;

/** Reads the body the way body-parser's json() would, through res.locals.body. */
function parseWithOurs(_req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
  const body = (res as ServerResponse & { locals: { body: RereadableBody } }).locals.body;
  try {
    res.end(JSON.stringify({ parsed: body.json() }));
  } catch (err) {
    next(err);
  }
}

function answer(req: IncomingMessage & { body?: unknown }, res: ServerResponse): void {
  res.end(JSON.stringify({ parsed: req.body }));
}

/** An earlier middleware that lies about the length (raw-body's mismatch check). */
const lieAboutLength: RequestHandler = function lieAboutLength(req, _res, next) {
  req.headers['content-length'] = String(Number(req.headers['content-length']) + 5);
  next();
};

interface Case {
  name: string;
  body: Buffer | string;
  headers: Record<string, string>;
  before?: RequestHandler[];
  status: number;
  type: string | undefined;
}

const json = { 'content-type': 'application/json' };
const noise = Buffer.from(Array.from({ length: 4000 }, (_, i) => 97 + ((i * 7919) % 26)));

const CASES: Case[] = [
  { name: 'valid JSON', body: '{"a":1}', headers: json, status: 200, type: undefined },
  {
    name: 'Content-Length over the limit',
    body: 'x'.repeat(2048),
    headers: json,
    status: 413,
    type: 'entity.too.large',
  },
  {
    name: 'Content-Length mismatch',
    body: '{"a":1}',
    headers: json,
    before: [lieAboutLength],
    status: 400,
    type: 'request.size.invalid',
  },
  {
    name: 'unsupported content encoding',
    body: '{"a":1}',
    headers: { ...json, 'content-encoding': 'compress' },
    status: 415,
    type: 'encoding.unsupported',
  },
  {
    name: 'unsupported charset',
    body: '{"a":1}',
    headers: { 'content-type': 'application/json; charset=latin1' },
    status: 415,
    type: 'charset.unsupported',
  },
  {
    name: 'inflated body over the limit',
    body: gzipSync(JSON.stringify({ s: noise.toString() })),
    headers: { ...json, 'content-encoding': 'gzip' },
    status: 413,
    type: 'entity.too.large',
  },
  { name: 'bad JSON', body: '{"a":', headers: json, status: 400, type: 'entity.parse.failed' },
  {
    name: 'gzip body, valid',
    body: gzipSync('{"z":true}'),
    headers: { ...json, 'content-encoding': 'gzip' },
    status: 200,
    type: undefined,
  },
];

function errorType(errors: unknown[]): string | undefined {
  const e = errors[0] as { type?: string } | undefined;
  return e?.type;
}

async function run(flavour: Flavour, c: Case, ours: boolean) {
  const app = await mount(flavour, {
    use: [
      ...(c.before ?? []),
      ours
        ? rereadableBody({ limit: LIMIT })
        : (bodyParser2.json({ limit: LIMIT }) as unknown as RequestHandler),
    ],
    handler: ours ? parseWithOurs : answer,
  });
  const reply = await post(app.url, c.body, c.headers);
  return { status: reply.status, type: errorType(app.errors), json: reply.json };
}

describe.each(FLAVOURS)('error parity with body-parser on %s', (flavour) => {
  test.each(CASES)('$name', async (c) => {
    const theirs = await run(flavour, c, false);
    const ours = await run(flavour, c, true);
    expect(theirs.status).toBe(c.status);
    // NestJS turns body-parser's SyntaxError into its own exception without `type`.
    if (!(flavour === 'nest' && c.type === 'entity.parse.failed')) expect(theirs.type).toBe(c.type);
    expect({ status: ours.status, type: ours.type }).toEqual({ status: c.status, type: c.type });
    if (c.status === 200) expect(ours.json).toEqual(theirs.json);
  });
});

/** Sends part of a declared body, then destroys the socket. */
function abortMidBody(url: string): Promise<void> {
  return new Promise((resolve) => {
    const req = httpRequest(`${url}/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': '1000' },
    });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.write('{"a":"', () => setTimeout(() => req.destroy(), 20));
  });
}

describe('aborted uploads', () => {
  test.each([false, true])('are 400 request.aborted in both (ours: %s)', async (ours) => {
    const app = await mount('express5', {
      use: [
        ours
          ? rereadableBody({ limit: LIMIT })
          : (bodyParser2.json({ limit: LIMIT }) as unknown as RequestHandler),
      ],
      handler: ours ? parseWithOurs : answer,
    });
    await abortMidBody(app.url);
    await waitFor(() => app.errors.length === 1);
    expect(app.errors[0]).toMatchObject({ status: 400, type: 'request.aborted' });
  });
});

describe('beyond body-parser', () => {
  test('a zip bomb is refused by the inflation ratio before the limit is reached', async () => {
    const app = await mount('express5', {
      use: [rereadableBody({ limit: '50mb', maxInflationRatio: 50 })],
      handler: parseWithOurs,
    });
    const bomb = gzipSync(Buffer.alloc(20 * 1024 * 1024));
    const reply = await post(app.url, bomb, { ...json, 'content-encoding': 'gzip' });
    expect(reply.status).toBe(413);
    expect(app.errors[0]).toMatchObject({ type: 'body.inflation.ratio', limit: 50 });
  });

  test('a corrupt gzip body is a 400 encoding.invalid', async () => {
    const app = await mount('express5', { use: [rereadableBody()], handler: parseWithOurs });
    const reply = await post(app.url, Buffer.from('not gzip at all'), {
      ...json,
      'content-encoding': 'gzip',
    });
    expect(reply.status).toBe(400);
    expect(app.errors[0]).toMatchObject({ type: 'encoding.invalid' });
  });

  test('inflate: false refuses compressed bodies with 415', async () => {
    const app = await mount('express5', {
      use: [rereadableBody({ inflate: false })],
      handler: parseWithOurs,
    });
    const reply = await post(app.url, gzipSync('{}'), { ...json, 'content-encoding': 'gzip' });
    expect(reply.status).toBe(415);
    expect(app.errors[0]).toMatchObject({ type: 'encoding.unsupported' });
  });

  test('a huge upload past drainLimit closes the connection instead of draining it all', async () => {
    const app = await mount('express5', {
      use: [rereadableBody({ limit: LIMIT, drainLimit: '64kb' })],
      handler: parseWithOurs,
    });
    const outcome = await new Promise<string>((resolve) => {
      const req = httpRequest(`${app.url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(64 * 1024 * 1024) },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(`status ${res.statusCode}`);
      });
      req.on('error', () => resolve('closed'));
      const chunk = Buffer.alloc(64 * 1024, 32);
      function pump(): void {
        while (req.write(chunk)) {
          if (req.destroyed) return;
        }
        req.once('drain', pump);
      }
      pump();
    });
    expect(['closed', 'status 413']).toContain(outcome);
    expect(app.errors[0]).toMatchObject({ type: 'entity.too.large' });
  });

  test('a small oversized body is drained and answered 413 on a reusable connection', async () => {
    const app = await mount('http', {
      use: [rereadableBody({ limit: LIMIT })],
      handler: parseWithOurs,
    });
    const reply = await post(app.url, 'x'.repeat(4096), json);
    expect(reply.status).toBe(413);
    expect(reply.headers.connection).not.toBe('close');
  });
});
