import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http, { type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import compression from 'compression';
import { createProxyMiddleware } from 'http-proxy-middleware';
import type { RequestHandler } from '../../src/core/types';
import { responseTee } from '../../src/tee';
import { mount } from '../helpers/harness';
import { fetchAndAbort, fetchRaw, fetchSlowly, recorder } from './helpers';

function chunks(total: number, size: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const n = Math.min(size, total - sent);
      this.push(Buffer.alloc(n, sent % 251));
      sent += n;
    },
  });
}

const compress = compression({ threshold: 0 }) as unknown as RequestHandler;

describe('responseTee with streams', () => {
  test('pipe() of a big stream: bytes counted, head captured, digest over all bytes', async () => {
    const rec = recorder();
    const total = 8 * 1024 * 1024 + 3;
    const app = await mount('express5', {
      use: [responseTee({ onFinish: rec.onFinish, hash: 'sha256', tailBytes: 100 })],
      handler: (_req, res) => chunks(total, 65536).pipe(res),
    });
    const got = await fetchRaw(app.url);
    const record = await rec.next();
    expect(got.body.length).toBe(total);
    expect(record.bytes).toBe(total);
    expect(record.body.equals(got.body.subarray(0, 64 * 1024))).toBe(true);
    expect(record.tail.equals(got.body.subarray(total - 100))).toBe(true);
    expect(record.truncated).toBe(true);
    expect(record.digest).toBe(createHash('sha256').update(got.body).digest('hex'));
  });

  test('res.sendFile is captured', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tee-'));
    const file = join(dir, 'data.bin');
    const content = randomBytes(200 * 1024);
    writeFileSync(file, content);
    try {
      const rec = recorder();
      const app = await mount('express4', {
        use: [responseTee({ onFinish: rec.onFinish, maxBytes: '1mb' })],
        handler: (_req, res) =>
          (res as ServerResponse & { sendFile(p: string): void }).sendFile(file),
      });
      const got = await fetchRaw(app.url);
      const record = await rec.next();
      expect(got.body.equals(content)).toBe(true);
      expect(record.body.equals(content)).toBe(true);
      expect(record.truncated).toBe(false);
      expect(record.headers['content-length']).toBe(String(content.length));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('SSE: the head is captured, counting continues, closing the client ends it as aborted', async () => {
    const rec = recorder();
    let sent = 0;
    const app = await mount('express5', {
      use: [responseTee({ onFinish: rec.onFinish, maxBytes: 64 })],
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const timer = setInterval(() => {
          const frame = `data: ${'e'.repeat(40)} ${sent}\n\n`;
          sent += Buffer.byteLength(frame);
          res.write(frame);
        }, 2);
        res.on('close', () => clearInterval(timer));
      },
    });
    const received = await fetchAndAbort(app.url, 4000);
    const record = await rec.next();
    expect(record.outcome).toBe('aborted');
    expect(record.headers['content-type']).toBe('text/event-stream');
    expect(record.body.toString()).toBe(`data: ${'e'.repeat(40)} 0\n\ndata: ${'e'.repeat(8)}`);
    expect(record.bytes).toBeGreaterThanOrEqual(received);
    expect(record.bytes).toBe(sent);
    expect(record.truncated).toBe(true);
    expect(record.timings.end).toBeUndefined();
  });

  test('a client that aborts mid-stream: outcome aborted, bytes as sent so far', async () => {
    const rec = recorder();
    const app = await mount('connect', {
      use: [responseTee({ onFinish: rec.onFinish })],
      handler: (_req, res) => chunks(64 * 1024 * 1024, 16384).pipe(res),
    });
    const received = await fetchAndAbort(app.url, 1024 * 1024);
    const record = await rec.next();
    expect(record.outcome).toBe('aborted');
    expect(record.bytes).toBeGreaterThanOrEqual(received);
    expect(record.bytes).toBeLessThan(64 * 1024 * 1024);
    expect(record.timings.close).toBeDefined();
  });

  test('res.destroy(err) by the server is errored', async () => {
    const rec = recorder();
    const app = await mount('http', {
      use: [responseTee({ onFinish: rec.onFinish })],
      handler: (_req, res) => {
        res.write('partial');
        setImmediate(() => res.destroy(new Error('upstream died')));
      },
    });
    await expect(fetchRaw(app.url)).rejects.toThrow();
    const record = await rec.next();
    expect(record.outcome).toBe('errored');
    expect((record.error as Error).message).toBe('upstream died');
    expect(record.body.toString()).toBe('partial');
  });

  test('tee before compression holds the wire bytes (gzip) and decodes them off the hot path', async () => {
    const rec = recorder();
    const text = 'hello compressed world '.repeat(500);
    const app = await mount('express5', {
      use: [responseTee({ onFinish: rec.onFinish, decode: true }), compress],
      handler: (_req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.end(text);
      },
    });
    const got = await fetchRaw(app.url, { headers: { 'accept-encoding': 'gzip' } });
    expect(got.headers['content-encoding']).toBe('gzip');
    const record = await rec.next();
    expect(record.wire).toBe(true);
    expect(record.contentEncoding).toBe('gzip');
    expect(record.bodyEncoding).toBe('gzip');
    expect(record.body.equals(got.body)).toBe(true);
    expect(record.decoded?.body.toString()).toBe(text);
    expect(record.decoded?.truncated).toBe(false);
  });

  test('brotli decode is bounded and a truncated head still decodes what it can', async () => {
    const rec = recorder();
    const text = randomBytes(300 * 1024).toString('hex');
    const app = await mount('http', {
      use: [responseTee({ onFinish: rec.onFinish, maxBytes: '32kb', decode: '8kb' })],
      handler: (_req, res) => {
        res.setHeader('content-encoding', 'br');
        res.end(zlib.brotliCompressSync(text));
      },
    });
    await fetchRaw(app.url);
    const record = await rec.next();
    expect(record.truncated).toBe(true);
    expect(record.decoded?.encoding).toBe('br');
    expect(record.decoded?.body.toString()).toBe(text.slice(0, 8192));
    expect(record.decoded?.truncated).toBe(true);
  });

  test('tee after compression holds the uncompressed bytes and says so', async () => {
    const rec = recorder();
    const text = 'plain before gzip '.repeat(300);
    const app = await mount('express4', {
      use: [compress, responseTee({ onFinish: rec.onFinish, decode: true })],
      handler: (_req, res) => {
        res.setHeader('content-type', 'text/plain');
        res.end(text);
      },
    });
    const got = await fetchRaw(app.url, { headers: { 'accept-encoding': 'gzip' } });
    expect(got.headers['content-encoding']).toBe('gzip');
    const record = await rec.next();
    expect(record.wire).toBe(false);
    expect(record.contentEncoding).toBe('gzip');
    expect(record.bodyEncoding).toBe('identity');
    expect(record.body.toString()).toBe(text);
    expect(record.decoded).toBeUndefined();
  });

  describe('behind http-proxy-middleware (the seed)', () => {
    let upstream: Server;
    let upstreamUrl: string;
    const bodies = new Map<string, Buffer>();

    beforeAll(async () => {
      upstream = http.createServer(function serve(req, res) {
        const body = bodies.get(req.url ?? '') ?? Buffer.alloc(0);
        res.setHeader('content-type', 'application/octet-stream');
        res.setHeader('set-cookie', 'upstream=secret');
        let offset = 0;
        function pump(): void {
          while (offset < body.length) {
            const piece = body.subarray(offset, offset + 50_000);
            offset += piece.length;
            if (!res.write(piece)) return void res.once('drain', pump);
          }
          res.end();
        }
        pump();
      });
      await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
      upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      upstream.closeAllConnections();
      await new Promise((r) => upstream.close(r));
    });

    test('a client aborting a proxied download: aborted, bytes so far, no leak', async () => {
      const body = randomBytes(32 * 1024 * 1024);
      bodies.set('/abort', body);
      const rec = recorder();
      const tee = responseTee({ onFinish: rec.onFinish, hash: 'sha256' });
      const app = await mount('express4', {
        use: [tee, createProxyMiddleware({ target: upstreamUrl }) as unknown as RequestHandler],
      });
      const received = await fetchAndAbort(`${app.url}/abort`, 2 * 1024 * 1024);
      const record = await rec.next();
      expect(record.outcome).toBe('aborted');
      expect(record.bytes).toBeGreaterThanOrEqual(received);
      expect(record.bytes).toBeLessThan(body.length);
      expect(record.body.equals(body.subarray(0, 64 * 1024))).toBe(true);
      expect(tee.stats()).toMatchObject({ active: 0, inFlightBytes: 0 });
      bodies.delete('/abort');
    });

    test.each([0, 1, 65535, 65536, 65537, 3 * 1024 * 1024 + 7, 50 * 1024 * 1024])(
      'a %d-byte random body: digest equals the upstream SHA-256 with a slow client',
      async (size) => {
        const body = randomBytes(size);
        bodies.set(`/b${size}`, body);
        const rec = recorder();
        const app = await mount('express5', {
          use: [
            responseTee({ onFinish: rec.onFinish, hash: 'sha256' }),
            createProxyMiddleware({ target: upstreamUrl }) as unknown as RequestHandler,
          ],
        });
        const got =
          size > 1024 * 1024
            ? await fetchSlowly(`${app.url}/b${size}`, 1024 * 1024, 10)
            : await fetchRaw(`${app.url}/b${size}`);
        const record = await rec.next();
        const expected = createHash('sha256').update(body).digest('hex');
        expect(got.body.length).toBe(size);
        expect(record.digest).toBe(expected);
        expect(record.bytes).toBe(size);
        expect(record.body.equals(body.subarray(0, 64 * 1024))).toBe(true);
        expect(record.truncated).toBe(size > 64 * 1024);
        expect(record.headers['set-cookie']).toBe('[REDACTED]');
        expect(record.outcome).toBe('completed');
        bodies.delete(`/b${size}`);
      },
      60_000,
    );
  });
});
