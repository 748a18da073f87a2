import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import bodyParser from 'body-parser';
import type { RequestHandler } from '../../src/core/types';
import { responseTee, type TeeRecordJSON } from '../../src/tee';
import { isTextType, toJsonBody } from '../../src/tee/json';
import { mount } from '../helpers/harness';
import { fetchRaw, recorder } from './helpers';

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function roundTrip(json: { body: string; bodyFormat: string }): Buffer {
  return Buffer.from(json.body, json.bodyFormat === 'text' ? 'utf8' : 'base64');
}

describe('record.request.digest', () => {
  test('is the digest of every request body byte when hash is set', async () => {
    const rec = recorder();
    const payload = JSON.stringify({ n: 'x'.repeat(5000) });
    const app = await mount('express5', {
      use: [
        responseTee({ onFinish: rec.onFinish, hash: 'sha256', request: { maxBytes: 16 } }),
        bodyParser.json() as unknown as RequestHandler,
      ],
      handler: (_req: IncomingMessage, res: ServerResponse) => res.end('ok'),
    });
    await fetchRaw(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: payload,
    });
    const record = await rec.next();
    expect(record.request!.truncated).toBe(true);
    expect(record.request!.digest).toBe(sha256(payload));
    expect(record.digest).toBe(sha256('ok'));
  });
});

describe('record.toJSON()', () => {
  test('writes text bodies as strings and binary as base64, request and decoded copy included', async () => {
    const rec = recorder();
    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0x00]);
    const app = await mount('express5', {
      use: [
        responseTee({ onFinish: rec.onFinish, request: true, decode: true }),
        bodyParser.urlencoded({ extended: false }) as unknown as RequestHandler,
      ],
      handler: (req: IncomingMessage, res: ServerResponse) => {
        if (req.url === '/png') {
          res.setHeader('content-type', 'image/png');
          res.end(png);
        } else if (req.url === '/gz') {
          res.setHeader('content-type', 'application/json');
          res.setHeader('content-encoding', 'gzip');
          res.end(gzipSync('{"zipped":"ü"}'));
        } else {
          res.setHeader('content-type', 'application/problem+json; charset=utf-8');
          res.end('{"wörld":1}');
        }
      },
    });
    await fetchRaw(`${app.url}/text`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'a=1&b=%C3%BC',
    });
    const text = JSON.parse(JSON.stringify(await rec.next())) as TeeRecordJSON;
    expect(text).toMatchObject({ body: '{"wörld":1}', tail: '', bodyFormat: 'text' });
    expect(text.request).toMatchObject({ body: 'a=1&b=%C3%BC', bodyFormat: 'text' });

    await fetchRaw(`${app.url}/png`);
    const binary = (await rec.next()).toJSON();
    expect(binary.bodyFormat).toBe('base64');
    expect(Buffer.from(binary.body, 'base64').equals(png)).toBe(true);
    expect(binary.request).toMatchObject({ body: '', bodyFormat: 'base64' });

    await fetchRaw(`${app.url}/gz`);
    const gz = (await rec.next()).toJSON();
    expect(gz.bodyFormat).toBe('base64');
    expect(gz.decoded).toMatchObject({ body: '{"zipped":"ü"}', bodyFormat: 'text' });
  });
});

describe('toJsonBody', () => {
  test.each([
    ['text/plain', true],
    ['text/event-stream', true],
    ['application/json; charset=utf-8', true],
    ['application/vnd.api+json', true],
    ['application/xml', true],
    ['image/svg+xml', false],
    ['application/atom+xml', true],
    ['application/x-www-form-urlencoded', true],
    ['application/x-ndjson', true],
    ['application/octet-stream', false],
    ['image/png', false],
    ['', false],
    [undefined, false],
  ])('isTextType(%p) is %p', (type, expected) => {
    expect(isTextType(type)).toBe(expected);
  });

  test('text that is not valid UTF-8 is base64 (no byte lost); Latin-1 is text', () => {
    const bytes = Buffer.from([0x61, 0xff, 0x62]);
    const utf = toJsonBody(bytes, Buffer.alloc(0), 'text/plain', 'identity', false);
    expect(utf.bodyFormat).toBe('base64');
    expect(roundTrip(utf).equals(bytes)).toBe(true);
    const latin = toJsonBody(
      bytes,
      Buffer.alloc(0),
      'text/plain; charset=ISO-8859-1',
      undefined,
      false,
    );
    expect(latin).toMatchObject({ body: 'a\u00ffb', bodyFormat: 'text' });
  });

  test('a head and a tail cut inside a multi-byte character stay text', () => {
    const all = Buffer.from('aüb€c');
    // head ends inside 'ü' (2 bytes), tail starts inside '€' (3 bytes)
    const head = all.subarray(0, 2);
    const tail = all.subarray(all.length - 3);
    const json = toJsonBody(head, tail, 'text/plain', 'identity', true);
    expect(json.bodyFormat).toBe('text');
    expect(json.body.startsWith('a')).toBe(true);
    expect(json.tail.endsWith('c')).toBe(true);
    // Not truncated: the same incomplete ending is not text.
    expect(toJsonBody(head, Buffer.alloc(0), 'text/plain', 'identity', false).bodyFormat).toBe(
      'base64',
    );
  });

  test('a compressed text body is base64', () => {
    const json = toJsonBody(Buffer.from('abc'), Buffer.alloc(0), 'text/plain', 'gzip', false);
    expect(json).toMatchObject({ body: 'YWJj', bodyFormat: 'base64' });
  });
});
