import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { BufferPool, type RereadableBody, rereadableBody } from '../../src/body';
import { mount } from '../helpers/harness';
import { destroyRawSockets, rawClient, rawSockets, readAll } from '../helpers/raw';
import { post, waitFor } from './util';

function headers(length: number, extra = ''): string {
  return `POST / HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: ${length}\r\n${extra}\r\n`;
}

describe('lease growth (issue 14)', () => {
  test('connections sending only headers hold no pooled memory at all', async () => {
    const pool = new BufferPool({ maxInFlight: '16mb', poison: true });
    let reached = 0;
    const app = await mount('express5', {
      use: [
        (_req, _res, next) => {
          reached++;
          next();
        },
        rereadableBody({ pool, limit: '1mb' }),
      ],
      handler: (_req, res) => res.end('ok'),
    });
    for (let i = 0; i < 16; i++) await rawClient(app.url, headers(1024 * 1024));
    await waitFor(() => reached === 16);
    expect(pool.stats()).toMatchObject({ inUse: 0, leases: 0 });
    // The first byte takes the first lease.
    const first = rawSockets()[0];
    first?.write('x');
    await waitFor(() => pool.stats().leases === 1);
    expect(pool.stats().inUse).toBe(64 * 1024);
    destroyRawSockets();
    await waitFor(() => pool.stats().inUse === 0);
  });

  test('connections sending a first byte with a big Content-Length do not hold the in-flight budget', async () => {
    const pool = new BufferPool({ maxInFlight: '16mb', poison: true });
    const app = await mount('express5', {
      use: [rereadableBody({ pool, limit: '1mb' })],
      handler: (_req, res) => res.end('ok'),
    });
    // 16 clients announce 1 MiB each and send one byte: once, their 16 MiB took the budget.
    for (let i = 0; i < 16; i++) await rawClient(app.url, headers(1024 * 1024), 'x');
    await waitFor(() => pool.stats().leases === 16);
    expect(pool.stats().inUse).toBeLessThanOrEqual(16 * 64 * 1024);
    const reply = await post(app.url, 'x'.repeat(300_000), { 'content-type': 'text/plain' });
    expect(reply.status).toBe(200);
    expect(app.errors).toEqual([]);
    // A body that does arrive grows its lease class by class, up to what it needs.
    expect(pool.stats().peak).toBeGreaterThanOrEqual(16 * 64 * 1024 + 512 * 1024);
    destroyRawSockets();
    await waitFor(() => pool.stats().inUse === 0);
    expect(pool.stats().leases).toBe(0);
  });
});

describe.each(['express4', 'express5', 'http'] as const)(
  'read timeout on %s (issue 14)',
  (flavour) => {
    test('a client that sends half a body then stalls gets 408 request.timeout and Connection: close', async () => {
      const pool = new BufferPool({ poison: true });
      const app = await mount(flavour, {
        use: [rereadableBody({ pool, timeout: '150ms' })],
        handler: (_req, res) => res.end('ok'),
      });
      const socket = await rawClient(app.url, headers(200_000), 'x'.repeat(100_000));
      const answer = await readAll(socket); // the server closes the connection after answering
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      expect(answer).toMatch(/\r\nconnection: close\r\n/i);
      expect(answer).toContain('"code":"REQUEST_TIMEOUT"');
      expect(app.errors).toHaveLength(1);
      expect(app.errors[0]).toMatchObject({
        status: 408,
        type: 'request.timeout',
        code: 'REQUEST_TIMEOUT',
        received: 100_000,
        expected: 200_000,
      });
      await waitFor(() => pool.stats().inUse === 0);
      expect(pool.stats().leases).toBe(0);
    });
  },
);

describe('timeout option', () => {
  test("Express's own final handler answers the 408 too, and closes the connection", async () => {
    const pool = new BufferPool();
    const app = await mount('express5', {
      use: [rereadableBody({ pool, timeout: '100ms' })],
      handler: (_req, res) => res.end('ok'),
      errorHandler: (err, _req, _res, next) => next(err), // on to finalhandler
    });
    const socket = await rawClient(app.url, headers(1000), 'x'.repeat(10));
    const answer = await readAll(socket);
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toMatch(/\r\nconnection: close\r\n/i);
    await waitFor(() => pool.stats().inUse === 0);
  });

  test('progress resets the timer: a slow but steady client is not cut', async () => {
    const app = await mount('express5', {
      use: [rereadableBody({ timeout: '200ms' })],
      handler: (_req, res) => res.end('ok'),
    });
    const socket = await rawClient(app.url, headers(6, 'Connection: close\r\n'));
    const answer = readAll(socket);
    for (const piece of ['ab', 'cd', 'ef']) {
      await new Promise((r) => setTimeout(r, 120));
      socket.write(piece);
    }
    expect(await answer).toMatch(/^HTTP\/1\.1 200 /);
  });

  test('false or 0 switches it off; a bad value is a TypeError naming timeout', () => {
    expect(() => rereadableBody({ timeout: false })).not.toThrow();
    expect(() => rereadableBody({ timeout: 0 })).not.toThrow();
    expect(() => rereadableBody({ timeout: 'soon' })).toThrow(/option timeout/);
    expect(() => rereadableBody({ timeout: -1 })).toThrow(/option timeout/);
    expect(() => rereadableBody({ timeout: true as never })).toThrow(/option timeout/);
  });
});

describe('streamTimeout (issue 14)', () => {
  function bodyOf(res: import('node:http').ServerResponse): RereadableBody {
    return (res as unknown as { locals: { body: RereadableBody } }).locals.body;
  }

  test.each([
    [
      'a destination that never reads',
      () => new Writable({ highWaterMark: 1, write: () => undefined }),
    ],
    [
      'a destination that errors',
      () => {
        const dest = new Writable({ write: (_c, _e, cb) => cb(new Error('disk full')) });
        dest.on('error', () => undefined);
        return dest;
      },
    ],
    ['no reader at all', undefined],
  ])(
    'a stream() piped to %s is destroyed after the response; the pool is back to 0',
    async (_name, makeDest) => {
      const pool = new BufferPool({ poison: true });
      const streams: Readable[] = [];
      const app = await mount('express5', {
        use: [rereadableBody({ pool, streamTimeout: '100ms' })],
        handler: (_req, res) => {
          const stream = bodyOf(res).stream();
          streams.push(stream);
          if (makeDest !== undefined) stream.pipe(makeDest());
          res.end('ok');
        },
      });
      const reply = await post(app.url, 'z'.repeat(300_000), { 'content-type': 'text/plain' });
      expect(reply.status).toBe(200);
      expect(pool.stats().inUse).toBeGreaterThan(0); // the stream still holds the body
      await waitFor(() => pool.stats().inUse === 0);
      expect(pool.stats().leases).toBe(0);
      expect(streams[0]?.destroyed).toBe(true);
    },
  );

  test('a stream with an error listener gets a body.stream.timeout error; a bad option is a TypeError', async () => {
    const pool = new BufferPool();
    const errors: unknown[] = [];
    const app = await mount('http', {
      use: [rereadableBody({ pool, streamTimeout: 50 })],
      handler: (_req, res) => {
        bodyOf(res)
          .stream()
          .on('error', (err) => errors.push(err));
        res.end('ok');
      },
    });
    await post(app.url, 'abc', { 'content-type': 'text/plain' });
    await waitFor(() => errors.length === 1);
    expect(errors[0]).toMatchObject({ type: 'body.stream.timeout', code: 'BODY_STREAM_TIMEOUT' });
    expect(pool.stats().inUse).toBe(0);
    expect(() => rereadableBody({ streamTimeout: 'later' })).toThrow(/option streamTimeout/);
  });
});

describe('transferred memory (issue 14)', () => {
  test('a handler that transfers buffer().buffer through a MessageChannel does not crash the process at release', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(__dirname, 'fixtures', 'transfer-child.ts')],
      { cwd: join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(err).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(out.trim()) as {
      status: number;
      afterTransfer: string;
      received: number;
      stats: { inUse: number; leases: number; retained: number };
    };
    expect(report).toMatchObject({ status: 200, afterTransfer: 'body.released' });
    expect(report.received).toBeGreaterThanOrEqual(5000); // the bytes did move to the other side
    expect(report.stats).toMatchObject({ inUse: 0, leases: 0, retained: 0 }); // not retained: it is gone
  }, 30_000);
});

/**
 * Writes `total` body bytes (as they are accepted, respecting backpressure)
 * until they are all written or the server closes the connection. With
 * `chunked`, each piece is framed as a chunk of a chunked body.
 */
async function upload(socket: Socket, total: number, chunked: boolean): Promise<void> {
  const piece = Buffer.alloc(64 * 1024, 'u');
  const framed = chunked
    ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')])
    : piece;
  for (let sent = 0; sent < total; sent += piece.length) {
    if (socket.destroyed || !socket.writable) return;
    if (!socket.write(framed)) {
      await new Promise<void>((resolve) => {
        socket.once('drain', resolve);
        socket.once('close', resolve);
      });
    }
  }
}

describe.each(['express4', 'express5', 'http'] as const)(
  'a body over limit by more than drainLimit on %s (issue 15)',
  (flavour) => {
    test.each([
      ['announced by Content-Length', false],
      ['found while reading a chunked body', true],
    ])(
      'a raw client reads the 413 (with Connection: close) before the socket closes: %s',
      async (_name, chunked) => {
        const pool = new BufferPool({ poison: true });
        const app = await mount(flavour, {
          use: [rereadableBody({ pool, limit: '1kb', drainLimit: '64kb' })],
          handler: (_req, res) => res.end('ok'),
        });
        const total = 8 * 1024 * 1024;
        const head = chunked
          ? 'POST / HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n'
          : headers(total);
        const socket = await rawClient(app.url, head);
        socket.on('error', () => undefined); // the server may reset what it never read
        const answer = readAll(socket);
        void upload(socket, total, chunked);
        const text = await answer;
        expect(text).toMatch(/^HTTP\/1\.1 413 /);
        expect(text).toMatch(/\r\nconnection: close\r\n/i);
        expect(text).toContain('"code":"ENTITY_TOO_LARGE"');
        expect(app.errors).toHaveLength(1);
        expect(app.errors[0]).toMatchObject({ status: 413, type: 'entity.too.large', limit: 1024 });
        await waitFor(() => pool.stats().inUse === 0);
        expect(pool.stats().leases).toBe(0);
      },
    );
  },
);

test.each(['express4', 'express5'] as const)(
  "past drainLimit, Express's own final handler (%s) answers the 413 before the socket closes (issue 15)",
  async (flavour) => {
    const app = await mount(flavour, {
      use: [rereadableBody({ limit: '1kb', drainLimit: '64kb' })],
      handler: (_req, res) => res.end('ok'),
      errorHandler: (err, _req, _res, next) => next(err), // on to finalhandler
    });
    const total = 8 * 1024 * 1024;
    const socket = await rawClient(app.url, headers(total));
    socket.on('error', () => undefined);
    const answer = readAll(socket);
    void upload(socket, total, false);
    const text = await answer;
    expect(text).toMatch(/^HTTP\/1\.1 413 /);
    expect(text).toMatch(/\r\nconnection: close\r\n/i);
  },
);

test('past drainLimit, an error handler that waits for the end and answers a turn later still reaches the client (issue 15)', async () => {
  const app = await mount('express5', {
    use: [rereadableBody({ limit: '1kb', drainLimit: '64kb' })],
    handler: (_req, res) => res.end('ok'),
    // Waits for the request to end (as finalhandler does), then answers after some async work.
    errorHandler: (err, req, res) => {
      req.once('end', () => {
        setImmediate(() => {
          res.statusCode = (err as { status: number }).status;
          res.end('too large');
        });
      });
      req.resume();
    },
  });
  const total = 8 * 1024 * 1024;
  const socket = await rawClient(app.url, headers(total));
  socket.on('error', () => undefined);
  const answer = readAll(socket);
  void upload(socket, total, false);
  const text = await answer;
  expect(text).toMatch(/^HTTP\/1\.1 413 /);
  expect(text).toMatch(/\r\nconnection: close\r\n/i);
  expect(text).toMatch(/too large$/);
});
