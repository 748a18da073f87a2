import { randomBytes } from 'node:crypto';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { BufferPool, type RereadableBody, rereadableBody } from '../../src/body';
import { mount } from '../helpers/harness';
import { chunk, rawSocket } from '../helpers/raw';
import { post, waitFor } from './util';

function bodyOf(res: import('node:http').ServerResponse): RereadableBody {
  return (res as unknown as { locals: { body: RereadableBody } }).locals.body;
}

/**
 * A hostile client: a chunked gzip body whose header announces a comment
 * (FLG.FCOMMENT) that never ends, so inflating it never yields a byte. Sends
 * up to `total` comment bytes (respecting backpressure), then ends the
 * chunked body; resolves with everything the server sent once it closes.
 */
function endlessComment(url: string, total: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = rawSocket(url);
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
    });
    socket.on('error', () => undefined); // the server may reset what it never read
    socket.on('close', () => resolve(text));
    socket.once('connect', async function send(): Promise<void> {
      try {
        socket.write(
          'POST / HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n' +
            'Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n',
        );
        // ID1 ID2 CM=deflate FLG=FCOMMENT, MTIME, XFL, OS: then the comment, NUL-terminated (never).
        socket.write(chunk(Buffer.from([0x1f, 0x8b, 0x08, 0x10, 0, 0, 0, 0, 0, 0xff])));
        const comment = chunk(Buffer.alloc(16 * 1024, 'c'));
        for (let sent = 0; sent < total; sent += 16 * 1024) {
          if (socket.destroyed || !socket.writable) return;
          if (!socket.write(comment)) {
            await new Promise<void>((r) => {
              socket.once('drain', r);
              socket.once('close', r);
            });
          }
        }
        if (socket.writable) socket.write('0\r\n\r\n');
      } catch (err) {
        reject(err);
      }
    });
  });
}

describe.each(['express4', 'express5', 'http'] as const)(
  'wireLimit on %s (issue 14)',
  (flavour) => {
    test('a gzip comment that never ends is a 413 entity.too.large past wireLimit, answered, then not read', async () => {
      const pool = new BufferPool({ poison: true });
      const app = await mount(flavour, {
        use: [rereadableBody({ pool, limit: '64kb' })],
        handler: (_req, res) => res.end('ok'),
      });
      const wireLimit = 64 * 1024 + 64 + 1024; // the default: limit + limit/1024 + 1 KiB
      const answer = await endlessComment(app.url, 4 * 1024 * 1024);
      expect(answer).toMatch(/^HTTP\/1\.1 413 /);
      expect(answer).toMatch(/\r\nconnection: close\r\n/i);
      expect(answer).toContain('"code":"ENTITY_TOO_LARGE"');
      expect(app.errors).toHaveLength(1);
      const err = app.errors[0] as { received: number };
      expect(err).toMatchObject({
        status: 413,
        type: 'entity.too.large',
        encoding: 'gzip',
        limit: wireLimit,
      });
      // Not read on: the bytes counted are those that passed the bound, not the 4 MiB sent.
      expect(err.received).toBeGreaterThan(wireLimit);
      expect(err.received).toBeLessThan(wireLimit + 256 * 1024);
      await waitFor(() => pool.stats().inUse === 0);
      expect(pool.stats().leases).toBe(0);
    });
  },
);

describe('wireLimit', () => {
  const json = Buffer.from(
    JSON.stringify({ items: Array.from({ length: 3000 }, (_v, i) => ({ i, name: `item ${i}` })) }),
  );

  test.each([
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ] as const)(
    'a normal %s body passes, inflated, with the identical bytes',
    async (encoding, compress) => {
      const app = await mount('express5', {
        use: [rereadableBody({ limit: '200kb' })],
        handler: (_req, res) => res.end(bodyOf(res).buffer()),
      });
      const reply = await post(app.url, compress(json), {
        'content-type': 'application/json',
        'content-encoding': encoding,
      });
      expect(app.errors).toEqual([]);
      expect(reply.status).toBe(200);
      expect(reply.text).toBe(json.toString());
    },
  );

  test('by default an incompressible gzip body of exactly limit decoded bytes passes (its wire bytes are above limit)', async () => {
    const raw = randomBytes(256 * 1024);
    const wire = gzipSync(raw);
    expect(wire.length).toBeGreaterThan(raw.length);
    const app = await mount('http', {
      use: [rereadableBody({ limit: raw.length })],
      handler: (_req, res) => res.end(String(bodyOf(res).buffer().equals(raw))),
    });
    const reply = await post(app.url, wire, {
      'content-type': 'application/octet-stream',
      'content-encoding': 'gzip',
    });
    expect(app.errors).toEqual([]);
    expect(reply).toMatchObject({ status: 200, text: 'true' });
  });

  test('a compressed body announcing more than wireLimit is a 413 before anything is read', async () => {
    const pool = new BufferPool();
    const app = await mount('express5', {
      use: [rereadableBody({ pool, limit: '1mb', wireLimit: '1kb' })],
      handler: (_req, res) => res.end('ok'),
    });
    const wire = gzipSync(randomBytes(4096));
    const reply = await post(app.url, wire, {
      'content-type': 'application/octet-stream',
      'content-encoding': 'gzip',
    });
    expect(reply.status).toBe(413);
    expect(app.errors[0]).toMatchObject({
      type: 'entity.too.large',
      encoding: 'gzip',
      limit: 1024,
      received: 0,
      expected: wire.length,
    });
    expect(pool.stats()).toMatchObject({ inUse: 0, leases: 0, misses: 0 });
  });

  test('a bad wireLimit is a TypeError naming it', () => {
    expect(() => rereadableBody({ wireLimit: 'huge' })).toThrow(/option wireLimit/);
    expect(() => rereadableBody({ wireLimit: -1 })).toThrow(/option wireLimit/);
    expect(() => rereadableBody({ wireLimit: '10mb' })).not.toThrow();
  });
});
