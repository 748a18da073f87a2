import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable, Writable } from 'node:stream';
import type { Logger } from '../../src/core/logger';
import { responseTee, TeeSinkError } from '../../src/tee';
import { mount } from '../helpers/harness';
import { fetchAndAbort, fetchRaw, recorder } from './helpers';

function memoryLogger(): Logger & { lines: string[]; errors: unknown[] } {
  const lines: string[] = [];
  const errors: unknown[] = [];
  return {
    lines,
    errors,
    warn(message: string, error?: unknown): void {
      lines.push(message);
      errors.push(error);
    },
  };
}

/** Streams `body` in `size`-byte chunks, reusing one buffer (the sink must copy). */
function streamOf(body: Buffer, size: number): Readable {
  let sent = 0;
  const scratch = Buffer.alloc(size);
  return new Readable({
    read() {
      if (sent >= body.length) return void this.push(null);
      const n = Math.min(size, body.length - sent);
      body.copy(scratch, 0, sent, sent + n);
      sent += n;
      // A copy for the response (Node holds it until written); the scratch is reused.
      this.push(Buffer.from(scratch.subarray(0, n)));
    },
  });
}

/** A Writable that collects what it gets, one chunk per turn of the event loop. */
function collector(): { stream: Writable; done: Promise<Buffer> } {
  const parts: Buffer[] = [];
  let resolve!: (b: Buffer) => void;
  const done = new Promise<Buffer>((r) => {
    resolve = r;
  });
  const stream = new Writable({
    write(chunk: Buffer, _enc, callback) {
      parts.push(chunk);
      setImmediate(callback);
    },
    final(callback) {
      resolve(Buffer.concat(parts));
      callback();
    },
  });
  return { stream, done };
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

describe('responseTee sink', () => {
  test('gets the complete body of a large streamed response, equal to what was sent', async () => {
    const rec = recorder();
    const body = randomBytes(6 * 1024 * 1024 + 17);
    let sink: Promise<Buffer> | undefined;
    const app = await mount('express5', {
      use: [
        responseTee({
          onFinish: rec.onFinish,
          maxBytes: '16kb',
          sinkMaxQueue: '64mb',
          sink() {
            const c = collector();
            sink = c.done;
            return c.stream;
          },
        }),
      ],
      handler: (_req: IncomingMessage, res: ServerResponse) => streamOf(body, 65536).pipe(res),
    });
    const got = await fetchRaw(app.url);
    const record = await rec.next();
    expect(sha(got.body)).toBe(sha(body));
    expect(record.truncated).toBe(true);
    expect(record.sink).toEqual({ bytes: body.length, truncated: false, error: undefined });
    expect(sha(await sink!)).toBe(sha(body));
  });

  test('gets a copy: an application reusing its buffer after the write callback is safe', async () => {
    const rec = recorder();
    let sink: Promise<Buffer> | undefined;
    const app = await mount('http', {
      use: [
        responseTee({
          onFinish: rec.onFinish,
          sink() {
            const c = collector();
            sink = c.done;
            return c.stream;
          },
        }),
      ],
      handler: async (_req: IncomingMessage, res: ServerResponse) => {
        const scratch = Buffer.alloc(8192);
        for (let i = 0; i < 16; i++) {
          scratch.fill(i);
          await new Promise<void>((resolve, reject) =>
            res.write(scratch, (err) => (err ? reject(err) : resolve())),
          );
        }
        res.end();
      },
    });
    const got = await fetchRaw(app.url);
    await rec.next();
    expect((await sink!).equals(got.body)).toBe(true);
    expect(got.body[8192 * 3]).toBe(3);
  });

  test('a sink that never drains is cut past sinkMaxQueue; the client still gets everything', async () => {
    const rec = recorder();
    const logger = memoryLogger();
    let stalled: Writable | undefined;
    const total = 4 * 1024 * 1024;
    const tee = responseTee({
      onFinish: rec.onFinish,
      logger,
      sinkMaxQueue: '256kb',
      sink() {
        stalled = new Writable({
          highWaterMark: 1024,
          write() {
            // never calls back
          },
        });
        return stalled;
      },
    });
    const app = await mount('express5', {
      use: [tee],
      handler: (_req: IncomingMessage, res: ServerResponse) =>
        streamOf(Buffer.alloc(total, 7), 65536).pipe(res),
    });
    const got = await fetchRaw(app.url);
    expect(got.body.length).toBe(total);
    const record = await rec.next();
    expect(record.outcome).toBe('completed');
    expect(record.sink!.truncated).toBe(true);
    expect(record.sink!.bytes).toBeLessThanOrEqual(256 * 1024 + 65536);
    expect(record.sink!.error).toBeInstanceOf(TeeSinkError);
    expect((record.sink!.error as TeeSinkError).code).toBe('TEE_SINK_BEHIND');
    expect(stalled!.destroyed).toBe(true);
    expect(logger.lines).toEqual(['tee sink failed']);
    expect(tee.stats()).toMatchObject({ callbackErrors: 1, active: 0, inFlightBytes: 0 });
    expect(record.toJSON().sink).toMatchObject({
      truncated: true,
      error: { name: 'TeeSinkError', code: 'TEE_SINK_BEHIND' },
    });
  });

  test('queued sink bytes are charged to maxInFlightBytes: past it the sink is cut, and all comes back', async () => {
    const rec = recorder();
    const logger = memoryLogger();
    let inFlightSeen = 0;
    const tee = responseTee({
      onFinish: rec.onFinish,
      logger,
      maxBytes: 1,
      maxInFlightBytes: '256kb',
      sinkMaxQueue: '4mb',
      sink() {
        // Never calls back: every chunk handed to it stays queued (and charged).
        return new Writable({
          highWaterMark: 1024,
          write() {
            inFlightSeen = Math.max(inFlightSeen, tee.stats().inFlightBytes);
          },
        });
      },
    });
    const app = await mount('express5', {
      use: [tee],
      handler: (_req: IncomingMessage, res: ServerResponse) =>
        streamOf(Buffer.alloc(2 * 1024 * 1024, 5), 65536).pipe(res),
    });
    const got = await fetchRaw(app.url);
    expect(got.body.length).toBe(2 * 1024 * 1024);
    const record = await rec.next();
    expect((record.sink!.error as TeeSinkError).code).toBe('TEE_SINK_BUDGET');
    expect(record.sink!.truncated).toBe(true);
    expect(record.sink!.bytes).toBeLessThanOrEqual(256 * 1024);
    expect(inFlightSeen).toBeLessThanOrEqual(256 * 1024);
    expect(logger.lines).toEqual(['tee sink failed']);
    // The destroyed sink never called back: closing it gave its bytes back.
    expect(tee.stats().inFlightBytes).toBe(0);
  });

  test('a sink that errors is logged and cut; the response and the process are untouched', async () => {
    const rec = recorder();
    const logger = memoryLogger();
    let writes = 0;
    const tee = responseTee({
      onFinish: rec.onFinish,
      logger,
      sink() {
        return new Writable({
          write(_chunk, _enc, callback) {
            writes++;
            callback(writes === 2 ? new Error('disk full') : null);
          },
        });
      },
    });
    const app = await mount('express4', {
      use: [tee],
      handler: (_req: IncomingMessage, res: ServerResponse) =>
        streamOf(Buffer.alloc(1024 * 1024, 3), 16384).pipe(res),
    });
    const got = await fetchRaw(app.url);
    expect(got.body.length).toBe(1024 * 1024);
    const record = await rec.next();
    expect(record.sink!.truncated).toBe(true);
    expect((record.sink!.error as Error).message).toBe('disk full');
    expect(logger.lines).toEqual(['tee sink failed']);
    expect(tee.stats()).toMatchObject({ callbackErrors: 1, onFinishErrors: 0 });
  });

  test('a sink factory that throws or returns no Writable is logged; undefined means no sink', async () => {
    const rec = recorder();
    const logger = memoryLogger();
    const tee = responseTee({
      onFinish: rec.onFinish,
      logger,
      sink(req) {
        if (req.url === '/throw') throw new Error('factory bug');
        if (req.url === '/bad') return 42 as never;
        return undefined;
      },
    });
    const app = await mount('http', { use: [tee], handler: (_req, res) => res.end('fine') });
    for (const path of ['/throw', '/bad', '/none']) {
      expect((await fetchRaw(`${app.url}${path}`)).body.toString()).toBe('fine');
      expect((await rec.next()).sink).toBeUndefined();
    }
    expect(logger.lines).toEqual(['tee sink failed', 'tee sink failed']);
    expect(String(logger.errors[1])).toMatch(/sink must return a Writable or undefined, got 42/);
  });

  test('an aborted response destroys the sink (never ended as if complete)', async () => {
    const rec = recorder();
    let sink: Writable | undefined;
    let finished = false;
    const app = await mount('express5', {
      use: [
        responseTee({
          onFinish: rec.onFinish,
          sink() {
            sink = new Writable({
              write(_c, _e, cb) {
                cb();
              },
              final(cb) {
                finished = true;
                cb();
              },
            });
            return sink;
          },
        }),
      ],
      handler: (_req: IncomingMessage, res: ServerResponse) =>
        streamOf(Buffer.alloc(64 * 1024 * 1024, 1), 65536).pipe(res),
    });
    await fetchAndAbort(app.url, 256 * 1024);
    const record = await rec.next();
    expect(record.outcome).toBe('aborted');
    expect(record.sink!.truncated).toBe(true);
    expect((record.sink!.error as TeeSinkError).code).toBe('TEE_SINK_INCOMPLETE');
    expect(sink!.destroyed).toBe(true);
    expect(finished).toBe(false);
  });

  test('bad options throw a TypeError naming the option', () => {
    expect(() => responseTee({ sink: {} as never })).toThrow(/option sink must be a function/);
    for (const bad of [0, -1, 'lots', {}])
      expect(() => responseTee({ sinkMaxQueue: bad as never })).toThrow(/option sinkMaxQueue/);
  });
});
