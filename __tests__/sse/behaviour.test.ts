import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'node:http';
import { connect } from 'node:net';
import compression from 'compression';
import { CHANNELS } from '../../src/core/instrument';
import { ensureLocals } from '../../src/core/locals';
import type { RequestHandler } from '../../src/core/types';
import {
  type NdjsonStream,
  ndjson,
  type SseStream,
  type StreamAbortError,
  sse,
} from '../../src/sse';
import { mount } from '../helpers/harness';
import {
  eventually,
  failOnUnhandledRejections,
  openStream,
  stalledClient,
  streamOf,
} from './helpers';

failOnUnhandledRejections();

/** Counts res.write calls (a per-instance spy installed before the middleware). */
function countWrites(counter: { n: number }): RequestHandler {
  return function spy(_req: IncomingMessage, res: ServerResponse, next) {
    const write = res.write;
    res.write = function countedWrite(this: ServerResponse, ...args: unknown[]) {
      counter.n++;
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as typeof res.write;
    next();
  };
}

describe('options', () => {
  test.each([
    [{ overflow: 'spill' }, /overflow/],
    [{ maxBufferedBytes: 0 }, /maxBufferedBytes/],
    [{ maxBufferedBytes: 'lots' }, /maxBufferedBytes/],
    [{ writeTimeout: -1 }, /writeTimeout/],
    [{ heartbeat: 'often' }, /heartbeat/],
    [{ coalesce: 'yes' }, /coalesce/],
    [{ shutdownSignal: {} }, /shutdownSignal/],
    [{ heartbeatComment: 'a\nb' }, /heartbeatComment/],
    [{ retry: -5 }, /retry/],
    [{ maxBuffer: 1 }, /unknown option maxBuffer/],
  ])('sse(%p) throws a TypeError naming the option', (options, message) => {
    expect(() => sse(options as never)).toThrow(TypeError);
    expect(() => sse(options as never)).toThrow(message);
  });

  test('the caller object is not mutated', () => {
    const options = Object.freeze({ heartbeat: '5s', overflow: 'drop' as const });
    expect(() => sse(options)).not.toThrow();
    expect(() => ndjson({ retry: 1 } as never)).toThrow(/unknown option retry/);
  });
});

describe('write gate', () => {
  test('a healthy client reading large events is never counted as blocked', async () => {
    const blocked: unknown[] = [];
    const onBlocked = (m: unknown) => blocked.push(m);
    diagnostics.subscribe(CHANNELS.sseBlocked, onBlocked);
    let stream!: SseStream;
    const app = await mount('http', {
      use: [sse({ heartbeat: 0 })],
      handler: async (_req, res) => {
        stream = streamOf(res);
        // Each 20 KiB write is above the 16 KiB high-water mark, so write() returns false even
        // though a reading client drains it at once.
        for (let i = 0; i < 50; i++) await stream.send({ data: 'z'.repeat(20 * 1024) });
        stream.close();
      },
    });
    const client = await openStream(app.url);
    const text = await client.ended;
    diagnostics.unsubscribe(CHANNELS.sseBlocked, onBlocked);
    expect(text.length).toBeGreaterThan(50 * 20 * 1024);
    expect(stream.stats.blocked).toBe(0);
    expect(blocked).toEqual([]);
  });

  test('drop policy: a stalled client gets events dropped and counted; buffer stays within budget', async () => {
    const drops: unknown[] = [];
    const blocked: unknown[] = [];
    const onDrop = (m: unknown) => drops.push(m);
    const onBlocked = (m: unknown) => blocked.push(m);
    diagnostics.subscribe(CHANNELS.sseDrop, onDrop);
    diagnostics.subscribe(CHANNELS.sseBlocked, onBlocked);
    let stream!: SseStream;
    let maxBuffered = 0;
    let done = false;
    const app = await mount('http', {
      use: [sse({ heartbeat: 0, overflow: 'drop', maxBufferedBytes: '32kb', writeTimeout: 0 })],
      handler: async (_req, res) => {
        stream = streamOf(res);
        // Until the socket's buffers are full too: only a wait past the current turn is a block.
        for (
          let i = 0;
          i < 20000 && (stream.stats.dropped < 100 || stream.stats.blocked === 0);
          i++
        ) {
          stream.send({ data: 'y'.repeat(2000) });
          maxBuffered = Math.max(maxBuffered, res.writableLength);
          if (i % 50 === 0) await new Promise((r) => setImmediate(r));
        }
        done = true;
      },
    });
    const socket = await stalledClient(app.url, '/');
    socket.on('error', () => {});
    await eventually(() => done, 'the producer to finish', 15000);
    diagnostics.unsubscribe(CHANNELS.sseDrop, onDrop);
    diagnostics.unsubscribe(CHANNELS.sseBlocked, onBlocked);
    expect(stream.stats.dropped).toBeGreaterThanOrEqual(100);
    expect(drops.length).toBe(stream.stats.dropped);
    expect(blocked.length).toBeGreaterThan(0);
    expect(maxBuffered).toBeLessThanOrEqual(32 * 1024 + 2100);
    expect(stream.signal.aborted).toBe(false);
    socket.destroy();
    await eventually(() => stream.signal.aborted, 'abort');
  });

  test('close policy: over budget closes the stream with reason overflow', async () => {
    let stream!: SseStream;
    let rejection: unknown;
    const app = await mount('express5', {
      use: [sse({ heartbeat: 0, overflow: 'close', maxBufferedBytes: '16kb' })],
      handler: async (_req, res) => {
        stream = streamOf(res);
        try {
          for (;;) {
            const p = stream.send({ data: 'z'.repeat(1000) });
            if (stream.signal.aborted) await p;
            await new Promise((r) => setImmediate(r));
          }
        } catch (err) {
          rejection = err;
        }
      },
    });
    const socket = await stalledClient(app.url, '/');
    socket.on('error', () => {});
    await eventually(() => stream?.signal.aborted === true, 'overflow', 15000);
    expect((stream.signal.reason as StreamAbortError).reason).toBe('overflow');
    await eventually(() => rejection !== undefined, 'the next send to reject');
    expect(rejection).toMatchObject({ name: 'AbortError', reason: 'overflow' });
    socket.destroy();
  });

  test('wait policy: a producer that never awaits cannot grow the queue past the budget', async () => {
    let stream!: SseStream;
    const app = await mount('connect', {
      use: [sse({ heartbeat: 0, maxBufferedBytes: '16kb', writeTimeout: 0 })],
      handler: async (_req, res) => {
        stream = streamOf(res);
        while (!stream.signal.aborted) {
          stream.send({ data: 'w'.repeat(1000) });
          await new Promise((r) => setImmediate(r));
        }
      },
    });
    const socket = await stalledClient(app.url, '/');
    socket.on('error', () => {});
    await eventually(() => stream?.signal.aborted === true, 'overflow', 15000);
    expect((stream.signal.reason as StreamAbortError).reason).toBe('overflow');
    socket.destroy();
  });

  test('close() delivers what was accepted (queued sends resolve), and the response closes even for a client that never reads', async () => {
    let stream!: SseStream;
    let settled: PromiseSettledResult<void>[] | undefined;
    let finished: boolean | undefined;
    const app = await mount('express4', {
      use: [sse({ heartbeat: 0, maxBufferedBytes: '16kb', writeTimeout: 150 })],
      handler: async (_req, res) => {
        stream = streamOf(res);
        const sends: Promise<void>[] = [];
        while (!stream.waiting) {
          sends.push(stream.send({ data: 'c'.repeat(4000) }));
          await new Promise((r) => setImmediate(r));
        }
        sends.push(stream.send({ data: 'queued' }));
        stream.close();
        let finishEmitted = false;
        res.on('finish', () => {
          finishEmitted = true;
        });
        res.on('close', () => {
          finished = finishEmitted;
        });
        settled = await Promise.allSettled(sends);
      },
    });
    const socket = await stalledClient(app.url, '/');
    socket.on('error', () => {});
    await eventually(() => settled !== undefined, 'sends to settle', 15000);
    expect(settled!.every((r) => r.status === 'fulfilled')).toBe(true);
    expect((stream.signal.reason as StreamAbortError).reason).toBe('closed');
    await eventually(() => finished !== undefined, 'the response to close', 15000);
    const closed = new Promise((r) => socket.on('close', r));
    socket.resume();
    await closed;
  });

  test('coalesce: events sent in the same tick go out in one write, in order', async () => {
    const withCoalesce = { n: 0 };
    const without = { n: 0 };
    async function run(counter: { n: number }, coalesce: boolean): Promise<string> {
      const app = await mount('http', {
        use: [countWrites(counter), sse({ heartbeat: 0, coalesce })],
        handler: async (_req, res) => {
          const stream = streamOf(res);
          const sends = [];
          for (let i = 0; i < 10; i++) sends.push(stream.send({ data: String(i) }));
          await Promise.all(sends);
          stream.close();
        },
      });
      const s = await openStream(app.url);
      return s.ended;
    }
    const a = await run(withCoalesce, true);
    const b = await run(without, false);
    expect(a).toBe(b);
    expect(a).toBe([...Array(10).keys()].map((i) => `data: ${i}\n\n`).join(''));
    expect(withCoalesce.n).toBe(1);
    expect(without.n).toBe(10);
  });

  test('heartbeat: a comment is sent when the stream is idle', async () => {
    let stream!: SseStream;
    const app = await mount('http', {
      use: [sse({ heartbeat: 20, heartbeatComment: 'ping' })],
      handler: (_req, res) => {
        stream = streamOf(res);
      },
    });
    const s = await openStream(app.url);
    await s.until((t) => t.includes(': ping\n\n'));
    expect(stream.stats.heartbeats).toBeGreaterThan(0);
    expect(stream.stats.sent).toBe(0);
    s.close();
  });

  test('heartbeat: none is queued while the client is blocked', async () => {
    let stream!: SseStream;
    const app = await mount('http', {
      use: [sse({ heartbeat: 5, writeTimeout: 300, maxBufferedBytes: '16kb' })],
      handler: async (_req, res) => {
        stream = streamOf(res);
        try {
          for (;;) await stream.send({ data: 'q'.repeat(4000) });
        } catch {
          // write-timeout
        }
      },
    });
    const socket = await stalledClient(app.url, '/');
    socket.on('error', () => {});
    await eventually(() => stream?.signal.aborted === true, 'write-timeout', 15000);
    expect((stream.signal.reason as StreamAbortError).reason).toBe('write-timeout');
    expect(stream.stats.heartbeats).toBe(0);
    socket.destroy();
  });

  test('compression: each event arrives at once (no-transform keeps it uncompressed; res.flush is called)', async () => {
    const app = await mount('express5', {
      use: [compression() as unknown as RequestHandler, sse({ heartbeat: 0 })],
      handler: async (_req, res) => {
        await streamOf(res).send({ data: 'first' });
      },
    });
    const req = request(app.url, { headers: { 'accept-encoding': 'gzip' }, agent: false });
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    expect(res.headers['content-encoding']).toBeUndefined();
    let text = '';
    await new Promise<void>((resolve) => {
      res.on('data', (c: Buffer) => {
        text += c.toString();
        if (text.includes('\n\n')) resolve();
      });
    });
    expect(text).toBe('data: first\n\n');
    req.destroy();
  });

  test('shutdownSignal ends every open stream gracefully (reason shutdown)', async () => {
    const controller = new AbortController();
    const streams: SseStream[] = [];
    const app = await mount('express4', {
      use: [sse({ heartbeat: 0, shutdownSignal: controller.signal })],
      handler: async (_req, res) => {
        const stream = streamOf(res);
        streams.push(stream);
        await stream.send({ data: 'hi' });
      },
    });
    const a = await openStream(app.url);
    const b = await openStream(app.url);
    await a.until((t) => t.includes('hi'));
    await b.until((t) => t.includes('hi'));
    controller.abort();
    expect(await a.ended).toBe('data: hi\n\n');
    expect(await b.ended).toBe('data: hi\n\n');
    expect(a.res.complete).toBe(true);
    expect(streams.map((s) => (s.signal.reason as StreamAbortError).reason)).toEqual([
      'shutdown',
      'shutdown',
    ]);
  });

  test('shutdownSignal gets one listener per middleware, however many streams are open', async () => {
    const { EventEmitter } = await import('node:events');
    const controller = new AbortController();
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    const streams: SseStream[] = [];
    const app = await mount('http', {
      use: [sse({ heartbeat: 0, shutdownSignal: controller.signal })],
      handler: async (_req, res) => {
        const stream = streamOf(res);
        streams.push(stream);
        await stream.send({ data: 'hi' });
      },
    });
    const clients = await Promise.all(Array.from({ length: 20 }, () => openStream(app.url)));
    await Promise.all(clients.map((c) => c.until((t) => t.includes('hi'))));
    expect(EventEmitter.getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    // A stream that ended leaves the fan-out: closing one and aborting later reaches only the rest.
    streams[0]?.close();
    await clients[0]?.ended;
    controller.abort();
    await Promise.all(clients.map((c) => c.ended));
    expect(streams.slice(1).map((s) => (s.signal.reason as StreamAbortError).reason)).toEqual(
      new Array(19).fill('shutdown'),
    );
    const first = streams[0] as SseStream;
    expect((first.signal.reason as StreamAbortError).reason).toBe('closed');
    await new Promise((r) => setImmediate(r));
    process.off('warning', onWarning);
    expect(warnings.filter((w) => w.name === 'MaxListenersExceededWarning')).toEqual([]);
  });

  test('fail() sends an error event with an ErrorFrame and closes (reason error)', async () => {
    let stream!: SseStream;
    const app = await mount('http', {
      use: [sse({ heartbeat: 0 })],
      handler: (_req, res) => {
        stream = streamOf(res);
        stream.send({ data: 'before' });
        stream.fail(Object.assign(new Error('bad cursor'), { status: 400, type: 'bad.cursor' }));
      },
    });
    const s = await openStream(app.url, { headers: { 'x-request-id': 'f-1' } });
    expect(await s.ended).toBe(
      'data: before\n\nevent: error\ndata: {"code":"BAD_CURSOR","message":"bad cursor","trace_id":"f-1"}\n\n',
    );
    expect((stream.signal.reason as StreamAbortError).reason).toBe('error');
  });

  test('open and close are published with duration and reason', async () => {
    const opened: unknown[] = [];
    const closed: { reason: string; durationMs: number; sent: number }[] = [];
    const onOpen = (m: unknown) => opened.push(m);
    const onClose = (m: unknown) => closed.push(m as (typeof closed)[number]);
    diagnostics.subscribe(CHANNELS.sseOpen, onOpen);
    diagnostics.subscribe(CHANNELS.sseClose, onClose);
    try {
      const app = await mount('http', {
        use: [sse({ heartbeat: 0 })],
        handler: async (_req, res) => {
          await streamOf(res).send({ data: 'x' });
          streamOf(res).close();
        },
      });
      const s = await openStream(app.url, { headers: { 'x-request-id': 'dc-1' } });
      await s.ended;
      await eventually(() => closed.length === 1, 'close message');
      expect(opened).toEqual([{ kind: 'sse', traceId: 'dc-1' }]);
      expect(closed[0]).toMatchObject({ kind: 'sse', traceId: 'dc-1', reason: 'closed', sent: 1 });
      expect(closed[0]!.durationMs).toBeGreaterThanOrEqual(0);
    } finally {
      diagnostics.unsubscribe(CHANNELS.sseOpen, onOpen);
      diagnostics.unsubscribe(CHANNELS.sseClose, onClose);
    }
  });

  test('Connection: keep-alive on HTTP/1.1 only', async () => {
    const app = await mount('http', {
      use: [sse({ heartbeat: 0 })],
      handler: (_req, res) => streamOf(res).close(),
    });
    async function head(version: string): Promise<string> {
      const { hostname, port } = new URL(app.url);
      const socket = connect(Number(port), hostname);
      socket.setEncoding('utf8');
      socket.write(`GET / HTTP/${version}\r\nHost: x\r\n\r\n`);
      let text = '';
      socket.on('data', (c: string) => {
        text += c;
        if (text.includes('\r\n\r\n')) socket.destroy();
      });
      await once(socket, 'close');
      return text.slice(0, text.indexOf('\r\n\r\n')).toLowerCase();
    }
    expect(await head('1.1')).toContain('connection: keep-alive');
    expect(await head('1.0')).not.toContain('keep-alive');
  });

  test('retry option is sent first', async () => {
    const app = await mount('http', {
      use: [sse({ heartbeat: 0, retry: 2500 })],
      handler: (_req, res) => streamOf(res).close(),
    });
    const s = await openStream(app.url);
    expect(await s.ended).toBe('retry: 2500\n\n');
  });
});

describe('ndjson()', () => {
  test('one JSON document per line, errors as an error line through errorFrames', async () => {
    const app = await mount('express5', {
      use: [ndjson()],
      handler: async (_req, res) => {
        const stream = ensureLocals(res).sse as NdjsonStream;
        await stream.send({ n: 1, text: 'a\nb' });
        await stream.send([2]);
        throw Object.assign(new Error('gone'), { status: 502, code: 'UPSTREAM_FAILED' }); // a 5xx reveals no foreign code
      },
    });
    const s = await openStream(app.url, { headers: { 'x-request-id': 'nd-1' } });
    expect(s.res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    const text = await s.ended;
    expect(
      text
        .split('\n')
        .slice(0, -1)
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { n: 1, text: 'a\nb' },
      [2],
      { error: { code: 'BAD_GATEWAY', message: 'Bad Gateway', trace_id: 'nd-1' } },
    ]);
  });

  test('pipe() with backpressure and fail()', async () => {
    const warnings: unknown[] = [];
    const app = await mount('connect', {
      use: [ndjson({ logger: { warn: (_m, err) => warnings.push(err) } })],
      handler: async (_req, res) => {
        const stream = ensureLocals(res).sse as NdjsonStream;
        async function* rows() {
          yield { id: 1 };
          yield { id: 2 };
          yield { id: 3 };
        }
        const completed = await stream.pipe(rows(), { map: (r) => (r.id === 2 ? undefined : r) });
        expect(completed).toBe(true);
        stream.fail(new Error('secret'));
      },
    });
    const s = await openStream(app.url, { headers: { 'x-request-id': 'nd-2' } });
    expect(await s.ended).toBe(
      '{"id":1}\n{"id":3}\n{"error":{"code":"INTERNAL_SERVER_ERROR","message":"Internal Server Error","trace_id":"nd-2"}}\n',
    );
    expect(warnings).toHaveLength(1);
  });
});
