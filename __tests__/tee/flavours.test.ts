import type { IncomingMessage, ServerResponse } from 'node:http';
import bodyParser from 'body-parser';
import type { RequestHandler } from '../../src/core/types';
import { responseTee, type TeeLocals } from '../../src/tee';
import { FLAVOURS, mount } from '../helpers/harness';
import { fetchRaw, recorder } from './helpers';

// body-parser 1 is installed under the alias `body-parser1`, which has no types of its own.
const bodyParser1 = jest.requireActual<typeof bodyParser>('body-parser1');

type Sendable = ServerResponse & { json?: (body: unknown) => void; locals?: { tee?: TeeLocals } };

function sendJson(res: ServerResponse, body: unknown): void {
  const r = res as Sendable;
  if (typeof r.json === 'function') r.json(body);
  else {
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.end(JSON.stringify(body));
  }
}

describe.each(FLAVOURS)('responseTee on %s', (flavour) => {
  test('captures a JSON response exactly as the client got it, with trace id and timings', async () => {
    const rec = recorder();
    const app = await mount(flavour, {
      use: [responseTee({ onFinish: rec.onFinish })],
      handler: (_req, res) => sendJson(res, { hello: 'wörld', n: [1, 2, 3] }),
    });
    const got = await fetchRaw(`${app.url}/thing?q=1`, { headers: { 'x-request-id': 'tee-1' } });
    const record = await rec.next();
    expect(record.body.equals(got.body)).toBe(true);
    expect(JSON.parse(record.body.toString())).toEqual({ hello: 'wörld', n: [1, 2, 3] });
    expect(record).toMatchObject({
      status: 200,
      statusMessage: 'OK',
      outcome: 'completed',
      traceId: 'tee-1',
      method: 'GET',
      url: '/thing?q=1',
      truncated: false,
      bytes: got.body.length,
      wire: true,
      bodyEncoding: 'identity',
      requestBodyComplete: true,
    });
    expect(record.headers['content-type']).toBe(got.headers['content-type']);
    const t = record.timings;
    expect(t.start).toBe(0);
    for (const k of ['headersSent', 'firstByte', 'end', 'close'] as const)
      expect(typeof t[k]).toBe('number');
    expect(t.headersSent!).toBeLessThanOrEqual(t.firstByte!);
    expect(t.firstByte!).toBeLessThanOrEqual(t.end!);
    expect(t.end!).toBeLessThanOrEqual(t.close!);
  });

  test.each([
    ['body-parser 2', bodyParser.json() as unknown as RequestHandler],
    ['body-parser 1', bodyParser1.json() as unknown as RequestHandler],
  ])('request capture taps the body %s reads; the handler still gets it', async (_n, parser) => {
    const rec = recorder();
    const app = await mount(flavour, {
      use: [responseTee({ onFinish: rec.onFinish, request: { maxBytes: 10 } }), parser],
      handler: (req, res) => sendJson(res, (req as IncomingMessage & { body: unknown }).body),
    });
    const payload = JSON.stringify({ a: 'x'.repeat(100) });
    const got = await fetchRaw(app.url, {
      method: 'POST',
      body: payload,
      headers: { 'content-type': 'application/json', cookie: 'sid=1' },
    });
    expect(JSON.parse(got.body.toString())).toEqual(JSON.parse(payload));
    const record = await rec.next();
    expect(record.request).toBeDefined();
    expect(record.request!.bytes).toBe(payload.length);
    expect(record.request!.body.toString()).toBe(payload.slice(0, 10));
    expect(record.request!.truncated).toBe(true);
    expect(record.request!.complete).toBe(true);
    expect(record.request!.headers.cookie).toBe('[REDACTED]');
    expect(record.requestBodyComplete).toBe(true);
  });

  test('a request body nobody reads is not consumed by the tee', async () => {
    const rec = recorder();
    let flowing: boolean | null = true;
    let dataListeners = -1;
    const app = await mount(flavour, {
      use: [responseTee({ onFinish: rec.onFinish, request: true })],
      handler: (req, res) => {
        flowing = req.readableFlowing;
        dataListeners = req.listenerCount('data');
        res.end('not reading that');
      },
    });
    const got = await fetchRaw(app.url, { method: 'POST', body: Buffer.alloc(256 * 1024, 1) });
    expect(got.body.toString()).toBe('not reading that');
    const record = await rec.next();
    expect(flowing).toBeNull();
    expect(dataListeners).toBe(0);
    expect(record.request!.bytes).toBe(0);
    expect(record.request!.body.length).toBe(0);
  });

  test('res.locals.tee shows live counters', async () => {
    const rec = recorder();
    const app = await mount(flavour, {
      use: [responseTee({ onFinish: rec.onFinish, maxBytes: 2 })],
      handler: (_req, res) => {
        res.write('abc');
        const tee = (res as Sendable).locals?.tee;
        res.end(
          `${tee?.bytes}/${tee?.capturedBytes}/${tee?.truncated}/${tee?.writes}/${tee?.done}`,
        );
      },
    });
    const got = await fetchRaw(app.url);
    expect(got.body.toString()).toBe('abc3/2/true/1/false');
    const record = await rec.next();
    expect(record.bytes).toBe(got.body.length);
  });

  test('an error answered by the error handler is recorded as sent', async () => {
    const rec = recorder();
    const app = await mount(flavour, {
      use: [responseTee({ onFinish: rec.onFinish })],
      handler: () => {
        throw new Error('kaput');
      },
      expectErrors: (err) => err instanceof Error && err.message === 'kaput',
    });
    const got = await fetchRaw(app.url, { headers: { 'x-request-id': 'err-1' } });
    expect(got.status).toBe(500);
    expect(app.errors).toHaveLength(1);
    const record = await rec.next();
    expect(record.status).toBe(500);
    expect(record.body.equals(got.body)).toBe(true);
    expect(record.outcome).toBe('completed');
  });
});
