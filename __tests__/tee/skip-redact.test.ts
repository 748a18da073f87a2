import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import bodyParser from 'body-parser';
import type { Logger } from '../../src/core/logger';
import type { RequestHandler } from '../../src/core/types';
import { responseTee, type TeeRecord } from '../../src/tee';
import { mount } from '../helpers/harness';
import { fetchRaw, recorder } from './helpers';

function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    warn(message: string): void {
      lines.push(message);
    },
  };
}

function post(url: string, contentType: string, body: string | Buffer, headers = {}) {
  return fetchRaw(url, {
    method: 'POST',
    headers: { 'content-type': contentType, ...headers },
    body,
  });
}

describe('skip(req, res)', () => {
  test('is evaluated once, after the response closed, with the status known (morgan style)', async () => {
    const rec = recorder();
    const seen: number[] = [];
    const tee = responseTee({
      onFinish: rec.onFinish,
      skip(req, res) {
        seen.push(res.statusCode);
        return res.statusCode < 400 || req.url === '/ignored-error';
      },
    });
    const app = await mount('express5', {
      use: [tee],
      handler: (req: IncomingMessage, res: ServerResponse) => {
        res.statusCode = req.url === '/ok' ? 200 : 500;
        res.end(req.url);
      },
    });
    await fetchRaw(`${app.url}/ok`);
    await fetchRaw(`${app.url}/ignored-error`);
    await fetchRaw(`${app.url}/bad`);
    const record = await rec.next();
    expect(record.url).toBe('/bad');
    expect(record.status).toBe(500);
    expect(rec.records).toHaveLength(1);
    expect(seen).toEqual([200, 500, 500]);
    expect(tee.stats()).toMatchObject({ skipped: 2, records: 1, active: 0, inFlightBytes: 0 });
  });

  test('a skip that throws is logged and the record kept', async () => {
    const rec = recorder();
    const logger = memoryLogger();
    const tee = responseTee({
      onFinish: rec.onFinish,
      logger,
      skip() {
        throw new Error('skip bug');
      },
    });
    const app = await mount('http', { use: [tee], handler: (_req, res) => res.end('x') });
    expect((await fetchRaw(app.url)).body.toString()).toBe('x');
    expect((await rec.next()).body.toString()).toBe('x');
    expect(logger.lines).toEqual(['tee skip failed']);
    expect(tee.stats()).toMatchObject({ callbackErrors: 1, skipped: 0, inFlightBytes: 0 });
  });
});

describe('redactBody', () => {
  const secretJson = JSON.stringify({
    user: 'ada',
    password: 'hunter2',
    card: { number: '4111111111111111', exp: '12/30' },
    items: [{ token: 't1' }, { token: 't2', keep: 1 }],
  });

  test('JSON paths redact both sides; bytes and digest describe what was sent', async () => {
    const rec = recorder();
    const app = await mount('express4', {
      use: [
        responseTee({
          onFinish: rec.onFinish,
          request: true,
          hash: 'sha256',
          redactBody: ['password', 'card.number', 'items.token', 'nothing.here'],
        }),
        bodyParser.json() as unknown as RequestHandler,
      ],
      handler: (req: IncomingMessage, res: ServerResponse) => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify((req as IncomingMessage & { body: unknown }).body));
      },
    });
    const got = await post(app.url, 'application/json', secretJson);
    expect(got.body.toString()).toBe(secretJson);
    const record = await rec.next();
    const expected = {
      user: 'ada',
      password: '[REDACTED]',
      card: { number: '[REDACTED]', exp: '12/30' },
      items: [{ token: '[REDACTED]' }, { token: '[REDACTED]', keep: 1 }],
    };
    for (const side of [record, record.request!]) {
      expect(JSON.parse(side.body.toString())).toEqual(expected);
      expect(side.redaction).toBe('applied');
      expect(side.bytes).toBe(secretJson.length);
      expect(side.body.toString()).not.toContain('hunter2');
    }
    expect(JSON.stringify(record)).not.toMatch(/hunter2|4111|t1/);
  });

  test('form bodies, NDJSON, and a body with nothing to redact', async () => {
    const rec = recorder();
    const app = await mount('express5', {
      use: [
        responseTee({ onFinish: rec.onFinish, request: true, redactBody: ['password'] }),
        bodyParser.urlencoded({ extended: false }) as unknown as RequestHandler,
      ],
      handler: (req: IncomingMessage, res: ServerResponse) => {
        if (req.url === '/nd') {
          res.setHeader('content-type', 'application/x-ndjson');
          res.end('{"password":"a"}\n{"x":1}\n');
        } else {
          res.setHeader('content-type', 'application/json');
          res.end('{ "fine" : true }');
        }
      },
    });
    await post(`${app.url}/form`, 'application/x-www-form-urlencoded', 'user=ada&password=s3cret');
    const form = await rec.next();
    expect(form.request!.body.toString()).toBe('user=ada&password=%5BREDACTED%5D');
    expect(form.request!.redaction).toBe('applied');
    // Nothing matched: the captured bytes are kept exactly (formatting included).
    expect(form.body.toString()).toBe('{ "fine" : true }');
    expect(form.redaction).toBe('none');

    await fetchRaw(`${app.url}/nd`);
    const nd = await rec.next();
    expect(nd.body.toString()).toBe('{"password":"[REDACTED]"}\n{"x":1}\n');
  });

  test('a JSON body that cannot be parsed whole (truncated, invalid, compressed) is withheld', async () => {
    const rec = recorder();
    const app = await mount('express5', {
      use: [
        responseTee({
          onFinish: rec.onFinish,
          maxBytes: 60,
          decode: '1kb',
          redactBody: ['password'],
        }),
      ],
      handler: (req: IncomingMessage, res: ServerResponse) => {
        res.setHeader('content-type', 'application/json');
        if (req.url === '/long') res.end(secretJson);
        else if (req.url === '/invalid') res.end('{"password": "x",');
        else {
          res.setHeader('content-encoding', 'gzip');
          res.end(gzipSync('{"password":"zip"}'));
        }
      },
    });
    const bodies: TeeRecord[] = [];
    for (const path of ['/long', '/invalid', '/gz']) {
      await fetchRaw(`${app.url}${path}`);
      bodies.push(await rec.next());
    }
    for (const r of bodies) {
      expect(r.redaction).toBe('withheld');
      expect(r.body.length).toBe(0);
      expect(r.tail.length).toBe(0);
      expect(r.bytes).toBeGreaterThan(0);
    }
    // The decoded copy of the gzip body is whole: it is redacted, not withheld.
    expect(bodies[2]!.decoded).toMatchObject({ redaction: 'applied', truncated: false });
    expect(bodies[2]!.decoded!.body.toString()).toBe('{"password":"[REDACTED]"}');
  });

  test('a function gets head and tail with their context; a throw withholds and is logged', async () => {
    const rec = recorder();
    const logger = memoryLogger();
    const calls: string[] = [];
    const tee = responseTee({
      onFinish: rec.onFinish,
      logger,
      maxBytes: 4,
      tailBytes: 4,
      request: true,
      redactBody(bytes, context) {
        calls.push(`${context.side}:${context.part}:${context.truncated}:${bytes}`);
        if (context.side === 'request') throw new Error('redactor bug');
        return bytes.toString().toUpperCase();
      },
    });
    const app = await mount('express5', {
      use: [tee, bodyParser.text() as unknown as RequestHandler],
      handler: (_req: IncomingMessage, res: ServerResponse) => res.end('abcdefghijkl'),
    });
    const got = await post(app.url, 'text/plain', 'secret');
    expect(got.body.toString()).toBe('abcdefghijkl');
    const record = await rec.next();
    expect(record.body.toString()).toBe('ABCD');
    expect(record.tail.toString()).toBe('IJKL');
    expect(record.redaction).toBe('applied');
    expect(record.request!.redaction).toBe('withheld');
    expect(record.request!.body.length).toBe(0);
    expect(calls).toEqual([
      'response:body:true:abcd',
      'response:tail:true:ijkl',
      'request:body:true:secr',
    ]);
    expect(logger.lines).toEqual(['tee redactBody failed']);
    expect(tee.stats()).toMatchObject({ callbackErrors: 1, onFinishErrors: 0 });
  });

  test('bad options throw a TypeError naming the option', () => {
    expect(() => responseTee({ skip: 'yes' as never })).toThrow(/option skip must be a function/);
    for (const bad of [[], [''], ['a..b'], 'password', [1]])
      expect(() => responseTee({ redactBody: bad as never })).toThrow(
        /option redactBody must be a function or a non-empty array/,
      );
  });
});
