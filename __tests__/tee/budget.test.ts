import diagnostics from 'node:diagnostics_channel';
import { CHANNELS, type TeeCaptureMessage } from '../../src/core/instrument';
import { responseTee } from '../../src/tee';
import { mount } from '../helpers/harness';
import { fetchRaw, recorder } from './helpers';

describe('responseTee across requests', () => {
  test('maxInFlightBytes caps captured bytes across concurrent responses without blocking them', async () => {
    const rec = recorder();
    const tee = responseTee({ onFinish: rec.onFinish, maxBytes: 80, maxInFlightBytes: 100 });
    let wrote = 0;
    let releaseBoth: () => void = () => undefined;
    const bothWrote = new Promise<void>((r) => {
      releaseBoth = r;
    });
    const app = await mount('http', {
      use: [tee],
      handler: async (req, res) => {
        res.write(Buffer.alloc(90, req.url === '/a' ? 1 : 2));
        if (++wrote === 2) releaseBoth();
        await bothWrote;
        res.end();
      },
    });
    const [a, b] = await Promise.all([fetchRaw(`${app.url}/a`), fetchRaw(`${app.url}/b`)]);
    expect(a.body.length).toBe(90);
    expect(b.body.length).toBe(90);
    await rec.next();
    await rec.next();
    const captured = rec.records.map((r) => r.capturedBytes).sort((x, y) => x - y);
    expect(captured).toEqual([20, 80]);
    expect(rec.records.filter((r) => r.budgetExceeded)).toHaveLength(1);
    expect(rec.records.every((r) => r.bytes === 90 && r.truncated)).toBe(true);
    expect(tee.stats()).toMatchObject({
      active: 0,
      inFlightBytes: 0,
      budgetExceeded: 1,
      records: 2,
    });
  });

  test('publishes streamguard:tee:capture', async () => {
    const messages: TeeCaptureMessage[] = [];
    function onMessage(message: unknown): void {
      messages.push(message as TeeCaptureMessage);
    }
    diagnostics.subscribe(CHANNELS.teeCapture, onMessage);
    try {
      const rec = recorder();
      const app = await mount('http', {
        use: [responseTee({ onFinish: rec.onFinish, maxBytes: 2 })],
        handler: (_req, res) => res.end('abcd'),
      });
      await fetchRaw(app.url);
      await rec.next();
      expect(messages).toHaveLength(1);
      expect(messages[0]).toMatchObject({
        status: 200,
        outcome: 'completed',
        bytes: 4,
        capturedBytes: 2,
        truncated: true,
      });
    } finally {
      diagnostics.unsubscribe(CHANNELS.teeCapture, onMessage);
    }
  });

  test('request capture also sees a body read with for await (read() in paused mode)', async () => {
    const rec = recorder();
    const app = await mount('http', {
      use: [responseTee({ onFinish: rec.onFinish, request: { maxBytes: 4, tailBytes: 3 } })],
      handler: async (req, res) => {
        let n = 0;
        for await (const chunk of req) n += (chunk as Buffer).length;
        res.end(String(n));
      },
    });
    const got = await fetchRaw(app.url, { method: 'PUT', body: '0123456789' });
    expect(got.body.toString()).toBe('10');
    const record = await rec.next();
    expect(record.request).toMatchObject({ bytes: 10, capturedBytes: 7, truncated: true });
    expect(record.request!.body.toString()).toBe('0123');
    expect(record.request!.tail.toString()).toBe('789');
  });

  test('without onFinish the tee still counts and cleans up', async () => {
    const tee = responseTee();
    const app = await mount('http', { use: [tee], handler: (_req, res) => res.end('x') });
    await fetchRaw(app.url);
    while (tee.stats().records < 1) await new Promise((r) => setImmediate(r));
    expect(tee.stats()).toMatchObject({ active: 0, inFlightBytes: 0 });
  });
});

describe('the record', () => {
  test('lazy headers and traceId are real values and survive JSON.stringify', async () => {
    const rec = recorder();
    const app = await mount('http', {
      use: [responseTee({ onFinish: rec.onFinish })],
      handler: (_req, res) => {
        res.setHeader('x-custom', 'v');
        res.setHeader('set-cookie', 'a=b');
        res.end('{}');
      },
    });
    await fetchRaw(app.url, { headers: { 'x-request-id': 'json-1' } });
    const record = await rec.next();
    const plain = JSON.parse(JSON.stringify(record)) as Record<string, unknown>;
    expect(plain.traceId).toBe('json-1');
    expect(plain.headers).toMatchObject({ 'x-custom': 'v', 'set-cookie': '[REDACTED]' });
    expect(plain.status).toBe(200);
    expect(plain).not.toHaveProperty('source');
  });
});
