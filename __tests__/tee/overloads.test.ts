import { createHash } from 'node:crypto';
import { ServerResponse } from 'node:http';
import fc from 'fast-check';
import { responseTee, type TeeRecord } from '../../src/tee';
import { mount } from '../helpers/harness';
import { fetchRaw, fetchSlowly, recorder } from './helpers';

type Write = (...args: unknown[]) => boolean;

describe('responseTee write path', () => {
  test('every write/end overload and encoding is captured exactly as sent, callbacks run', async () => {
    const rec = recorder();
    const called: string[] = [];
    const app = await mount('http', {
      use: [responseTee({ onFinish: rec.onFinish })],
      handler: (_req, res) => {
        const w = res.write.bind(res) as Write;
        w('a');
        w('b', () => called.push('write(chunk, cb)'));
        w('6363', 'hex', () => called.push('write(chunk, hex, cb)'));
        w('ZGQ=', 'base64');
        w('\u00e9', 'latin1');
        w('\u00e9', 'utf8');
        w('ff', 'utf16le');
        w(new Uint8Array([0x21, 0x22]));
        w(Buffer.from('buf'));
        w('', () => called.push('empty write'));
        res.end('end', 'utf8', () => called.push('end(chunk, enc, cb)'));
      },
    });
    const got = await fetchRaw(app.url);
    const record = await rec.next();
    const expected = Buffer.concat([
      Buffer.from('ab'),
      Buffer.from('6363', 'hex'),
      Buffer.from('ZGQ=', 'base64'),
      Buffer.from('\u00e9', 'latin1'),
      Buffer.from('\u00e9', 'utf8'),
      Buffer.from('ff', 'utf16le'),
      Buffer.from([0x21, 0x22]),
      Buffer.from('buf'),
      Buffer.from('end'),
    ]);
    expect(got.body.equals(expected)).toBe(true);
    expect(record.body.equals(expected)).toBe(true);
    expect(record.bytes).toBe(expected.length);
    expect(record.truncated).toBe(false);
    expect(record.outcome).toBe('completed');
    expect(called.sort()).toEqual(
      ['empty write', 'end(chunk, enc, cb)', 'write(chunk, cb)', 'write(chunk, hex, cb)'].sort(),
    );
  });

  test.each([
    ['end()', (res: ServerResponse, done: () => void) => res.end(done)],
    ['end(chunk, cb)', (res: ServerResponse, done: () => void) => res.end('x', done)],
    [
      'end(cb) after write',
      (res: ServerResponse, done: () => void) => {
        res.write('x');
        res.end(done);
      },
    ],
  ])('%s forwards its callback', async (_name, finish) => {
    const rec = recorder();
    let callbackRan = false;
    const app = await mount('http', {
      use: [responseTee({ onFinish: rec.onFinish })],
      handler: (_req, res) =>
        finish(res, () => {
          callbackRan = true;
        }),
    });
    const got = await fetchRaw(app.url);
    const record = await rec.next();
    expect(callbackRan).toBe(true);
    expect(record.body.toString()).toBe(got.body.toString());
  });

  test.each([
    ['object', { 'x-one': '1', 'set-cookie': ['a=1', 'b=2'], authorization: 'Bearer s' }],
    [
      'flat array',
      ['x-one', '1', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'authorization', 'Bearer s'],
    ],
    [
      '2D array',
      [
        ['x-one', '1'],
        ['authorization', 'Bearer s'],
        ['set-cookie', 'a=1'],
        ['set-cookie', 'b=2'],
      ],
    ],
  ])(
    'writeHead(status, message, %s headers) is reported as flushed, sensitive ones redacted',
    async (_n, headers) => {
      const rec = recorder();
      const app = await mount('http', {
        use: [responseTee({ onFinish: rec.onFinish })],
        handler: (_req, res) => {
          (res.writeHead as (s: number, m: string, h: unknown) => void)(
            202,
            'Fine Thanks',
            headers,
          );
          res.end('ok');
        },
      });
      const got = await fetchRaw(app.url);
      expect(got.headers['x-one']).toBe('1');
      const record = await rec.next();
      expect(record.status).toBe(202);
      expect(record.statusMessage).toBe('Fine Thanks');
      expect(record.headers['x-one']).toBe('1');
      expect(record.headers['set-cookie']).toEqual(['[REDACTED]', '[REDACTED]']);
      expect(record.headers.authorization).toBe('[REDACTED]');
      expect(record.timings.headersSent).toBeGreaterThanOrEqual(0);
    },
  );

  test('the redact list is configurable', async () => {
    const rec = recorder();
    const app = await mount('http', {
      use: [responseTee({ onFinish: rec.onFinish, redact: ['x-api-key'] })],
      handler: (_req, res) => {
        res.setHeader('x-api-key', 'k');
        res.setHeader('set-cookie', 'a=1');
        res.end();
      },
    });
    await fetchRaw(app.url);
    const record = await rec.next();
    expect(record.headers['x-api-key']).toBe('[REDACTED]');
    expect(record.headers['set-cookie']).toBe('a=1');
  });

  test('write returns the original value: backpressure and drain intact', async () => {
    const rec = recorder();
    const results: boolean[] = [];
    let drained = 0;
    const chunk = Buffer.alloc(1024 * 1024, 7);
    const app = await mount('http', {
      use: [responseTee({ onFinish: rec.onFinish })],
      handler: async (_req, res) => {
        for (let i = 0; i < 8; i++) {
          const ok = res.write(chunk);
          results.push(ok);
          if (!ok) {
            await new Promise<void>((resolve) => res.once('drain', resolve));
            drained++;
          }
        }
        res.end();
      },
    });
    const got = await fetchSlowly(app.url, 256 * 1024, 5);
    const record = await rec.next();
    expect(got.body.length).toBe(8 * chunk.length);
    expect(results).toContain(false);
    expect(drained).toBeGreaterThan(0);
    expect(record.bytes).toBe(8 * chunk.length);
    expect(record.capturedBytes).toBe(64 * 1024);
    expect(record.truncated).toBe(true);
  });

  test('flushHeaders marks headers sent; HEAD, 204 and 304 report no body bytes', async () => {
    const rec = recorder();
    const app = await mount('http', {
      use: [responseTee({ onFinish: rec.onFinish })],
      handler: (req, res) => {
        if (req.url === '/204') res.statusCode = 204;
        if (req.url === '/304') res.statusCode = 304;
        res.flushHeaders();
        res.write('ignored by node');
        res.end('also ignored');
      },
    });
    for (const path of ['/204', '/304']) {
      const got = await fetchRaw(app.url + path);
      expect(got.body.length).toBe(0);
      const record = await rec.next();
      expect(record.status).toBe(Number(path.slice(1)));
      expect(record.bytes).toBe(0);
      expect(record.body.length).toBe(0);
      expect(record.headersSent).toBe(true);
      expect(record.timings.headersSent).toBeDefined();
      expect(record.timings.firstByte).toBeUndefined();
    }
    const head = await fetchRaw(`${app.url}/head`, { method: 'HEAD' });
    expect(head.body.length).toBe(0);
    const record = await rec.next();
    expect(record.method).toBe('HEAD');
    expect(record.bytes).toBe(0);
  });

  test('mounting the same tee twice wraps once and reports once', async () => {
    const rec = recorder();
    const tee = responseTee({ onFinish: rec.onFinish });
    let writeWrappers = 0;
    const app = await mount('http', {
      use: [tee, tee],
      handler: (_req, res) => {
        writeWrappers = res.write.name === 'teeWrite' ? 1 : 0;
        res.end('once');
      },
    });
    await fetchRaw(app.url);
    const record = await rec.next();
    await new Promise((r) => setTimeout(r, 20));
    expect(rec.records).toHaveLength(1);
    expect(record.body.toString()).toBe('once');
    expect(writeWrappers).toBe(1);
  });

  test('two different tees on one response each produce a correct record', async () => {
    const a = recorder();
    const b = recorder();
    const app = await mount('http', {
      use: [
        responseTee({ onFinish: a.onFinish }),
        responseTee({ onFinish: b.onFinish, maxBytes: 3 }),
      ],
      handler: (_req, res) => {
        res.write('hello ');
        res.end('world');
      },
    });
    await fetchRaw(app.url);
    const [ra, rb] = await Promise.all([a.next(), b.next()]);
    expect(ra.body.toString()).toBe('hello world');
    expect(ra.bytes).toBe(11);
    expect(rb.body.toString()).toBe('hel');
    expect(rb.bytes).toBe(11);
    expect(rb.truncated).toBe(true);
  });

  test('wrappers are per instance and removed after the record', async () => {
    const rec = recorder();
    let seen: ServerResponse | undefined;
    const app = await mount('http', {
      use: [responseTee({ onFinish: rec.onFinish })],
      handler: (_req, res) => {
        seen = res;
        expect(Object.hasOwn(res, 'write')).toBe(true);
        res.end('x');
      },
    });
    await fetchRaw(app.url);
    await rec.next();
    expect(seen).toBeDefined();
    const res = seen as ServerResponse;
    const proto = ServerResponse.prototype as unknown as Record<string, unknown>;
    const restored = res as unknown as Record<string, unknown>;
    for (const name of ['write', 'end', 'writeHead', 'flushHeaders', 'destroy']) {
      expect(restored[name]).toBe(proto[name]);
    }
  });

  test('a throwing or rejecting onFinish is logged and counted, never reaches the client', async () => {
    const warnings: string[] = [];
    const logger = { warn: (m: string) => warnings.push(m) };
    let calls = 0;
    const tee = responseTee({
      logger,
      onFinish: (r: TeeRecord) => {
        calls++;
        if (r.url === '/throw') throw new Error('boom');
        return Promise.reject(new Error('async boom'));
      },
    });
    const app = await mount('http', { use: [tee], handler: (_req, res) => res.end('fine') });
    const a = await fetchRaw(`${app.url}/throw`);
    const b = await fetchRaw(`${app.url}/reject`);
    expect(a.body.toString()).toBe('fine');
    expect(b.body.toString()).toBe('fine');
    while (tee.stats().onFinishErrors < 2) await new Promise((r) => setImmediate(r));
    expect(calls).toBe(2);
    expect(warnings).toEqual(['tee onFinish failed', 'tee onFinish failed']);
    expect(tee.stats()).toMatchObject({ active: 0, records: 2, inFlightBytes: 0 });
  });

  test('a slow onFinish does not delay the response or other requests', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const tee = responseTee({ onFinish: () => gate });
    const app = await mount('http', { use: [tee], handler: (_req, res) => res.end('quick') });
    const first = await fetchRaw(app.url);
    const second = await fetchRaw(app.url);
    expect(first.body.toString()).toBe('quick');
    expect(second.body.toString()).toBe('quick');
    release();
  });
});

describe('responseTee capture property', () => {
  const encodings = ['utf8', 'latin1', 'hex', 'base64', 'utf16le', 'ascii'] as const;
  const chunkArb = fc.oneof(
    fc.uint8Array({ maxLength: 300 }).map((u) => ({
      chunk: u as string | Uint8Array,
      enc: undefined as BufferEncoding | undefined,
    })),
    fc
      .tuple(fc.string({ maxLength: 100, unit: 'binary' }), fc.constantFrom(...encodings))
      .map(([text, enc]) => ({
        chunk:
          enc === 'hex'
            ? Buffer.from(text).toString('hex')
            : enc === 'base64'
              ? Buffer.from(text).toString('base64')
              : text,
        enc: enc as BufferEncoding | undefined,
      })),
  );

  test('for any writes, head/tail/bytes/digest match what the client received', async () => {
    let plan: { chunk: string | Uint8Array; enc: BufferEncoding | undefined }[] = [];
    let rec = recorder();
    let limits = { maxBytes: 0, tailBytes: 0 };
    const app = await mount('http', {
      use: [
        function dynamicTee(req, res, next) {
          responseTee({ ...limits, hash: 'sha1', onFinish: rec.onFinish })(req, res, next);
        },
      ],
      handler: (_req, res) => {
        for (const { chunk, enc } of plan) {
          if (enc === undefined) res.write(chunk);
          else res.write(chunk, enc);
        }
        res.end();
      },
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(chunkArb, { maxLength: 12 }),
        fc.nat(400),
        fc.nat(100),
        async (p, maxBytes, tailBytes) => {
          plan = p;
          rec = recorder();
          limits = { maxBytes, tailBytes };
          const got = await fetchRaw(app.url);
          const record = await rec.next();
          const all = got.body;
          expect(record.bytes).toBe(all.length);
          expect(record.digest).toBe(createHash('sha1').update(all).digest('hex'));
          expect(record.body.equals(all.subarray(0, record.body.length))).toBe(true);
          if (record.truncated) {
            expect(record.body.length).toBe(maxBytes);
            expect(record.tail.equals(all.subarray(all.length - record.tail.length))).toBe(true);
          } else expect(record.body.equals(all)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });
});
