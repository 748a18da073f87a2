import diagnostics from 'node:diagnostics_channel';
import { Agent, request as httpRequest, type ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { BufferPool, POISON_BYTE, type RereadableBody, rereadableBody } from '../../src/body';
import { CHANNELS } from '../../src/core/instrument';
import { FLAVOURS, mount } from '../helpers/harness';
import { post, waitFor } from './util';

function bodyOf(res: ServerResponse): RereadableBody {
  return (res as ServerResponse & { locals: { body: RereadableBody } }).locals.body;
}

describe('BufferPool', () => {
  test('size classes, free-list hits, poison on release, stats', () => {
    const pool = new BufferPool({ poison: true, minClass: 1024 });
    expect(pool.classFor(10)).toBe(1024);
    expect(pool.classFor(1025)).toBe(2048);
    const a = pool.lease(1500);
    expect(a.capacity).toBe(2048);
    a.view(4).write('abcd');
    a.used = 4;
    expect(pool.stats()).toMatchObject({ misses: 1, hits: 0, inUse: 2048, leases: 1, peak: 2048 });
    const stale = a.view(4);
    a.release();
    expect(stale.length).toBe(0); // detached: never shows anyone else's bytes
    expect(() => a.view(4)).toThrow(expect.objectContaining({ type: 'body.released' }));
    expect(pool.stats()).toMatchObject({ inUse: 0, retained: 2048 });
    const b = pool.lease(2000);
    expect(pool.stats()).toMatchObject({ hits: 1, retained: 0 });
    expect([...b.view(4)]).toEqual([POISON_BYTE, POISON_BYTE, POISON_BYTE, POISON_BYTE]);
    b.release();
  });

  test("a view's .buffer is the lease's own ArrayBuffer: no other request's bytes in it", () => {
    const pool = new BufferPool({ poison: true });
    const a = pool.lease(100);
    a.view(6).write('secret');
    a.used = 6;
    a.release();
    const b = pool.lease(100);
    b.view(2).write('hi');
    b.used = 2;
    const view = b.view(2);
    expect(view.buffer.byteLength).toBe(b.capacity);
    const whole = Buffer.from(view.buffer);
    expect(whole.includes('secret')).toBe(false);
    expect([...whole.subarray(2, 6)]).toEqual([POISON_BYTE, POISON_BYTE, POISON_BYTE, POISON_BYTE]);
    b.release();
  });

  test('retained bytes are capped and the in-flight budget refuses with 503 before allocating', () => {
    const pool = new BufferPool({ maxRetained: 4096, maxInFlight: 8192, retryAfter: 2 });
    const leases = [pool.lease(4096), pool.lease(4096)];
    const before = pool.stats();
    let caught: unknown;
    try {
      pool.lease(1);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({
      status: 503,
      type: 'body.pool.exhausted',
      headers: { 'Retry-After': '2' },
    });
    expect(pool.stats()).toMatchObject({ misses: before.misses, inUse: 8192, rejected: 1 });
    for (const l of leases) l.release();
    expect(pool.stats()).toMatchObject({ inUse: 0, retained: 4096 });
    pool.close();
    expect(pool.stats().retained).toBe(0);
  });

  test('bad options throw TypeError naming the option', () => {
    expect(() => new BufferPool({ maxInFlight: 'lots' })).toThrow(/maxInFlight/);
    expect(() => new BufferPool({ poison: 1 as unknown as boolean })).toThrow(/poison/);
    expect(() => new BufferPool({ nope: 1 } as never)).toThrow(/unknown option nope/);
    expect(() => rereadableBody({ limit: -1 })).toThrow(/limit/);
    expect(() => rereadableBody({ type: 5 as never })).toThrow(/type/);
  });

  test('publishes lease, release and exhausted on diagnostics_channel', () => {
    const events: string[] = [];
    function onPool(msg: unknown): void {
      events.push((msg as { event: string }).event);
    }
    diagnostics.subscribe(CHANNELS.bodyPool, onPool);
    try {
      const pool = new BufferPool({ maxInFlight: 1024 });
      const l = pool.lease(10);
      expect(() => pool.lease(10)).toThrow();
      l.release();
    } finally {
      diagnostics.unsubscribe(CHANNELS.bodyPool, onPool);
    }
    expect(events).toEqual(['lease', 'exhausted', 'release']);
  });
});

describe.each(FLAVOURS)('leases on %s', (flavour) => {
  test('views die with the response: buffer() throws body.released, old views are empty', async () => {
    const pool = new BufferPool({ poison: true });
    const kept: { body?: RereadableBody; view?: Buffer } = {};
    const app = await mount(flavour, {
      use: [rereadableBody({ pool })],
      handler: (_req, res) => {
        kept.body = bodyOf(res);
        kept.view = kept.body.buffer();
        res.end(kept.body.text());
      },
    });
    const reply = await post(app.url, 'secret-of-request-one', { 'content-type': 'text/plain' });
    expect(reply.text).toBe('secret-of-request-one');
    await waitFor(() => pool.stats().inUse === 0);
    expect(kept.body?.released).toBe(true);
    expect(kept.view?.length).toBe(0);
    expect(() => kept.body?.buffer()).toThrow(expect.objectContaining({ type: 'body.released' }));
    expect(() => kept.body?.text()).toThrow(expect.objectContaining({ type: 'body.released' }));
  });

  test('a stream() still being read keeps the lease past the response; its end releases it', async () => {
    const pool = new BufferPool({ poison: true });
    let stream: Readable | undefined;
    let closed = false;
    const app = await mount(flavour, {
      use: [rereadableBody({ pool })],
      handler: (_req, res) => {
        stream = bodyOf(res).stream();
        // After the body's own 'close' listener: once this runs, the response is done for it.
        res.once('close', () => {
          closed = true;
        });
        res.end('ok');
      },
    });
    const payload = 'y'.repeat(100_000);
    await post(app.url, payload, { 'content-type': 'text/plain' });
    await waitFor(() => closed);
    expect(pool.stats().inUse).toBeGreaterThan(0);
    const chunks: Buffer[] = [];
    for await (const c of stream as Readable) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe(payload);
    await waitFor(() => pool.stats().inUse === 0);
  });

  test('detach() takes the bytes out of the pool without a copy', async () => {
    const pool = new BufferPool();
    let detached: Buffer | undefined;
    const app = await mount(flavour, {
      use: [rereadableBody({ pool })],
      handler: (_req, res) => {
        detached = bodyOf(res).detach();
        expect(pool.stats().inUse).toBe(0);
        res.end(bodyOf(res).text());
      },
    });
    const reply = await post(app.url, 'mine now', { 'content-type': 'text/plain' });
    expect(reply.text).toBe('mine now');
    expect(detached?.toString()).toBe('mine now');
    expect(pool.stats()).toMatchObject({ inUse: 0, retained: 0 });
  });

  test('past the in-flight budget a body gets 503 with Retry-After', async () => {
    const pool = new BufferPool({ maxInFlight: '8kb', retryAfter: 3 });
    const hold = pool.lease(8 * 1024);
    const app = await mount(flavour, {
      use: [rereadableBody({ pool, limit: '4kb' })],
      handler: (_req, res) => res.end('ok'),
    });
    const reply = await post(app.url, 'x'.repeat(100), { 'content-type': 'text/plain' });
    expect(reply.status).toBe(503);
    expect(reply.headers['retry-after']).toBe('3');
    expect(app.errors[0]).toMatchObject({ type: 'body.pool.exhausted' });
    hold.release();
    expect(pool.stats().inUse).toBe(0);
  });
});

describe('chunked uploads', () => {
  test('a chunked body of unknown length grows its lease and arrives intact', async () => {
    const pool = new BufferPool({ poison: true });
    const app = await mount('express5', {
      use: [rereadableBody({ pool })],
      handler: (_req, res) => res.end(String(bodyOf(res).buffer().equals(expected))),
    });
    const expected = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31) % 256));
    const text = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${app.url}/`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
      });
      req.on('response', (res) => {
        let out = '';
        res.on('data', (c: Buffer) => {
          out += c.toString();
        });
        res.on('end', () => resolve(out));
      });
      req.on('error', reject);
      for (let i = 0; i < expected.length; i += 10_000) req.write(expected.subarray(i, i + 10_000));
      req.end();
    });
    expect(text).toBe('true');
    await waitFor(() => pool.stats().inUse === 0);
    expect(pool.stats().peak).toBeGreaterThanOrEqual(512 * 1024);
  });
});

describe('no leaks', () => {
  test('10,000 requests, with aborted and oversized ones, leave nothing in use', async () => {
    const pool = new BufferPool({ poison: true });
    const app = await mount('http', {
      use: [rereadableBody({ pool, limit: '4kb' })],
      handler: (req, res) => {
        const body = bodyOf(res);
        if (req.url === '/stream') body.stream().pipe(res);
        else res.end(String(body.length));
      },
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 16 });
    const small = Buffer.alloc(700, 97);
    const large = Buffer.alloc(5000, 98);
    function one(i: number): Promise<number> {
      return new Promise((resolve) => {
        const aborted = i % 500 === 7;
        const oversized = i % 10 === 3;
        const body = oversized ? large : small;
        const path = i % 4 === 1 ? '/stream' : '/';
        const req = httpRequest(`${app.url}${path}`, {
          method: 'POST',
          agent: aborted ? undefined : agent,
          headers: {
            'content-type': 'text/plain',
            'content-length': String(aborted ? 2000 : body.length),
          },
        });
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', () => resolve(-1));
        if (aborted) req.write(small, () => setImmediate(() => req.destroy()));
        else req.end(body);
      });
    }
    const counts = new Map<number, number>();
    let next = 0;
    async function worker(): Promise<void> {
      while (next < 10_000) {
        const status = await one(next++);
        counts.set(status, (counts.get(status) ?? 0) + 1);
      }
    }
    await Promise.all(Array.from({ length: 16 }, worker));
    agent.destroy();
    expect(counts.get(200)).toBe(8980);
    expect(counts.get(413)).toBe(1000);
    await waitFor(() => pool.stats().inUse === 0);
    expect(pool.stats()).toMatchObject({ inUse: 0, leases: 0 });
    expect(pool.stats().hits).toBeGreaterThan(8000);
  }, 60_000);
});
