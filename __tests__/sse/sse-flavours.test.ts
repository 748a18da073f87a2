import type { IncomingMessage, ServerResponse } from 'node:http';
import { EventSource } from 'eventsource';
import { ensureLocals } from '../../src/core/locals';
import { type NdjsonStream, ndjson, type SseStream, StreamAbortError, sse } from '../../src/sse';
import { FLAVOURS, mount } from '../helpers/harness';
import {
  connections,
  eventually,
  failOnUnhandledRejections,
  openStream,
  stalledClient,
  streamOf,
} from './helpers';

failOnUnhandledRejections();

describe.each(FLAVOURS)('sse() on %s', (flavour) => {
  test('headers are right and flushed before any event', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const app = await mount(flavour, {
      use: [sse({ heartbeat: 0 })],
      handler: async (_req, res) => {
        await gate;
        await streamOf(res).send({ data: 'late' });
        streamOf(res).close();
      },
    });
    const s = await openStream(`${app.url}/events`);
    expect(s.res.statusCode).toBe(200);
    expect(s.res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(s.res.headers['cache-control']).toBe('no-cache, no-transform');
    expect(s.res.headers['x-accel-buffering']).toBe('no');
    expect(s.text()).toBe('');
    release();
    expect(await s.ended).toBe('data: late\n\n');
  });

  test('the eventsource client receives typed events, ids and JSON; reconnects with Last-Event-ID', async () => {
    const seen: (string | undefined)[] = [];
    const app = await mount(flavour, {
      use: [sse({ heartbeat: 0 })],
      handler: async (_req, res) => {
        const stream = streamOf(res);
        seen.push(stream.lastEventId);
        const start = stream.lastEventId === undefined ? 0 : Number(stream.lastEventId) + 1;
        await stream.send({ retry: 10 });
        for (let i = start; i < start + 2; i++)
          await stream.send({ event: 'tick', id: String(i), data: { i, text: 'a\nb' } });
        stream.close();
      },
    });
    const es = new EventSource(`${app.url}/events`);
    const got: { id: string; data: unknown }[] = [];
    await new Promise<void>((resolve) => {
      es.addEventListener('tick', (e) => {
        got.push({ id: e.lastEventId, data: JSON.parse(e.data) });
        if (got.length === 4) resolve();
      });
    });
    es.close();
    expect(got).toEqual([
      { id: '0', data: { i: 0, text: 'a\nb' } },
      { id: '1', data: { i: 1, text: 'a\nb' } },
      { id: '2', data: { i: 2, text: 'a\nb' } },
      { id: '3', data: { i: 3, text: 'a\nb' } },
    ]);
    expect(seen.slice(0, 2)).toEqual([undefined, '1']);
  });

  test('a client that disconnects aborts the signal (client-closed) and everything is cleaned up', async () => {
    let stream!: SseStream;
    let response!: ServerResponse;
    let closeListenersBefore = 0;
    const app = await mount(flavour, {
      use: [
        function countListeners(_req: IncomingMessage, res: ServerResponse, next: () => void) {
          closeListenersBefore = res.listenerCount('close');
          next();
        },
        sse({ heartbeat: '1s' }),
      ],
      handler: async (_req, res) => {
        stream = streamOf(res);
        response = res;
        await stream.send({ data: 'hello' });
      },
    });
    const s = await openStream(`${app.url}/events`);
    await s.until((t) => t.includes('hello'));
    const aborted = new Promise<unknown>((resolve) =>
      stream.signal.addEventListener('abort', () => resolve(stream.signal.reason)),
    );
    s.close();
    const reason = await aborted;
    expect(reason).toBeInstanceOf(StreamAbortError);
    expect((reason as StreamAbortError).reason).toBe('client-closed');
    await expect(stream.send({ data: 'after' })).rejects.toMatchObject({
      name: 'AbortError',
      reason: 'client-closed',
    });
    stream.send({ data: 'not awaited' });
    expect((stream as unknown as { heartbeatTimer?: unknown }).heartbeatTimer).toBeUndefined();
    expect(response.listenerCount('close')).toBeLessThanOrEqual(closeListenersBefore);
    expect(response.listenerCount('drain')).toBe(0);
    await eventually(async () => (await connections(app.server)) === 0, 'sockets to close');
  });

  test('a POST with a body keeps the stream open after the body is read', async () => {
    let stream!: SseStream;
    const app = await mount(flavour, {
      use: [sse({ heartbeat: 0 })],
      handler: async (req, res) => {
        stream = streamOf(res);
        let body = '';
        for await (const chunk of req) body += String(chunk);
        await stream.send({ event: 'echo', data: body });
        await new Promise((r) => setImmediate(r));
        await stream.send({ data: `aborted=${stream.signal.aborted}` });
      },
    });
    const s = await openStream(`${app.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x'.repeat(100_000),
    });
    const text = await s.until((t) => t.includes('aborted='));
    expect(text).toContain('data: aborted=false');
    expect(stream.signal.aborted).toBe(false);
    s.close();
    await eventually(() => stream.signal.aborted, 'abort');
    expect((stream.signal.reason as StreamAbortError).reason).toBe('client-closed');
  });

  test('a client that stops reading: buffered bytes stay within budget, the stream is closed at the deadline', async () => {
    const budget = 64 * 1024;
    const event = { data: 'x'.repeat(4096) };
    let maxBuffered = 0;
    let rejection: unknown;
    let stream!: SseStream;
    const app = await mount(flavour, {
      use: [sse({ heartbeat: 0, maxBufferedBytes: budget, writeTimeout: 200 })],
      handler: async (_req, res) => {
        stream = streamOf(res);
        try {
          for (;;) {
            const p = stream.send(event);
            maxBuffered = Math.max(maxBuffered, res.writableLength);
            await p;
          }
        } catch (err) {
          rejection = err;
        }
      },
    });
    const socket = await stalledClient(app.url, '/events');
    const closed = new Promise((r) => socket.on('close', r));
    socket.on('error', () => {});
    await eventually(() => rejection !== undefined, 'the stall to be detected', 15000);
    expect(rejection).toMatchObject({ name: 'AbortError', reason: 'write-timeout' });
    expect(maxBuffered).toBeLessThanOrEqual(budget + 4200);
    expect(stream.stats.blocked).toBeGreaterThan(0);
    socket.resume();
    await closed;
  });

  test('a throw in the handler after headers are out becomes an error event and a clean close', async () => {
    let stream!: SseStream;
    let response!: ServerResponse;
    const app = await mount(flavour, {
      expectErrors: true,
      use: [sse({ heartbeat: '1s' })],
      handler: async (_req, res) => {
        stream = streamOf(res);
        response = res;
        await stream.send({ data: 'one' });
        stream.send({ data: 'two' });
        throw new Error('database password is hunter2');
      },
    });
    const s = await openStream(`${app.url}/events`, { headers: { 'x-request-id': 'sse-err' } });
    const text = await s.ended;
    expect(text).toBe(
      'data: one\n\ndata: two\n\nevent: error\ndata: {"code":"INTERNAL_SERVER_ERROR","message":"Internal Server Error","trace_id":"sse-err"}\n\n',
    );
    expect(s.res.complete).toBe(true);
    await eventually(() => stream.signal.aborted, 'abort');
    expect((stream.signal.reason as StreamAbortError).reason).toBe('error');
    expect((stream as unknown as { heartbeatTimer?: unknown }).heartbeatTimer).toBeUndefined();
    expect(response.listenerCount('drain')).toBe(0);
    await eventually(async () => (await connections(app.server)) === 0, 'sockets to close');
  });

  test('a malformed Last-Event-ID is a 400 before the stream opens', async () => {
    const app = await mount(flavour, { use: [sse()], handler: (_req, res) => res.end() });
    const long = await openStream(`${app.url}/events?lastEventId=${'1'.repeat(300)}`);
    expect(long.res.statusCode).toBe(400);
    expect(JSON.parse(await long.ended).code).toBe('SSE_LAST_EVENT_ID_INVALID');
    const nul = await openStream(`${app.url}/events?lastEventId=a%00b`);
    expect(nul.res.statusCode).toBe(400);
    await nul.ended;
  });
});

describe.each(FLAVOURS)('ndjson() on %s', (flavour) => {
  test('lines arrive, and a client that leaves aborts the signal', async () => {
    let stream!: NdjsonStream;
    const app = await mount(flavour, {
      use: [ndjson()],
      handler: async (_req, res) => {
        stream = ensureLocals(res).sse as NdjsonStream;
        await stream.send({ n: 1 });
        await stream.send('two');
      },
    });
    const s = await openStream(`${app.url}/rows`);
    expect(s.res.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(await s.until((t) => t.endsWith('"two"\n'))).toBe('{"n":1}\n"two"\n');
    s.close();
    await eventually(() => stream.signal.aborted, 'abort');
    expect((stream.signal.reason as StreamAbortError).reason).toBe('client-closed');
    await expect(stream.send(3)).rejects.toMatchObject({ name: 'AbortError' });
  });
});
