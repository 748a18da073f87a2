import { Registry } from 'prom-client';
import request from 'supertest';
import { createBatcher } from '../../src/batch';
import { callSafely } from '../../src/core/logger';
import { metrics, metricsHandler } from '../../src/metrics';
import { parseExposition } from '../helpers/exposition';
import { mount } from '../helpers/harness';

const quiet = { warn: () => undefined };

async function scrape(registry: Registry) {
  const app = await mount('express5', { handler: metricsHandler(registry) });
  const res = await request(app.server).get('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toBe(registry.contentType);
  return parseExposition(res.text);
}

test('batch flushes and user-callback errors are counted and served over HTTP', async () => {
  const registry = new Registry();
  const m = metrics({ registry, prefix: 'app_' });
  const batcher = createBatcher<number>({
    maxSize: 2,
    logger: quiet,
    handler: (_k, items) => {
      if (items.includes(99)) throw new Error('db down');
    },
  });
  await Promise.all([batcher.add(1), batcher.add(2)]);
  await Promise.allSettled([batcher.add(99), batcher.add(3)]);
  await batcher.close();
  callSafely(quiet, 'tee', 'onFinish', () => {
    throw new Error('user bug');
  });
  const text = await scrape(registry);
  expect(text.types.get('app_batch_flushes_total')).toBe('counter');
  expect(text.value('app_batch_flushes_total', { reason: 'size', outcome: 'ok' })).toBe(1);
  expect(text.value('app_batch_flushes_total', { reason: 'size', outcome: 'failed' })).toBe(1);
  expect(text.value('app_batch_items_total', { outcome: 'ok' })).toBe(2);
  expect(text.value('app_batch_flush_duration_seconds_count', { outcome: 'ok' })).toBe(1);
  expect(
    text.value('app_callback_errors_total', { middleware: 'batch', callback: 'handler' }),
  ).toBe(1);
  expect(text.value('app_callback_errors_total', { middleware: 'tee', callback: 'onFinish' })).toBe(
    1,
  );
  m.close();
});

test('calling metrics() twice with one registry returns the same instance and counts once', async () => {
  const registry = new Registry();
  const a = metrics({ registry });
  const b = metrics({ registry });
  expect(b).toBe(a);
  callSafely(quiet, 'sse', 'sink', () => {
    throw new Error('x');
  });
  const text = await scrape(registry);
  expect(
    text.value('streamguard_callback_errors_total', { middleware: 'sse', callback: 'sink' }),
  ).toBe(1);
  a.close();
  const c = metrics({ registry });
  expect(c).not.toBe(a);
  c.close();
});

test('a registry is never prom-client global one unless passed', async () => {
  const { register } = await import('prom-client');
  const before = register.getMetricsAsArray().length;
  const m = metrics();
  expect(m.registry).not.toBe(register);
  expect(register.getMetricsAsArray().length).toBe(before);
  m.close();
});

test('after close() nothing more is counted', async () => {
  const registry = new Registry();
  const m = metrics({ registry });
  m.close();
  callSafely(quiet, 'tee', 'onFinish', () => {
    throw new Error('late');
  });
  const text = await scrape(registry);
  expect(
    text.value('streamguard_callback_errors_total', { middleware: 'tee', callback: 'onFinish' }),
  ).toBeUndefined();
});

test('bad options throw a TypeError naming them', () => {
  expect(() => metrics({ prefix: 'bad prefix' })).toThrow(/option prefix/);
  expect(() => metrics({ buckets: [1, Number.NaN] })).toThrow(/option buckets/);
  expect(() => metrics({ registry: {} as never })).toThrow(/option registry/);
  expect(() => metrics({ registy: 1 } as never)).toThrow(/unknown option registy/);
});

test('rate limit decisions, tee captures and event streams are counted from real traffic', async () => {
  const { rateLimit } = await import('../../src/rate-limit');
  const { responseTee } = await import('../../src/tee');
  const { sse } = await import('../../src/sse');
  const registry = new Registry();
  const m = metrics({ registry });
  const limiter = rateLimit({ rate: 1, interval: '1h', burst: 2, key: () => 'one-client' });
  const tee = responseTee({ maxBytes: '1kb' });
  const streams = sse({ heartbeat: false });
  const app = await mount('express5', {
    handler: (req, res, next) => {
      if (req.url === '/limited')
        return limiter(req, res, (err?: unknown) => (err ? next(err) : res.end('ok')));
      if (req.url === '/teed') return tee(req, res, () => res.end('y'.repeat(5000)));
      if (req.url === '/events')
        return streams(req, res, async () => {
          const stream = (res as unknown as { locals: { sse: import('../../src/sse').SseStream } })
            .locals.sse;
          for (let i = 0; i < 3; i++) await stream.send({ data: String(i) });
          stream.close();
        });
      next();
    },
  });
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await request(app.server).get('/limited')).status);
  expect(statuses).toEqual([200, 200, 429]);
  expect((await request(app.server).get('/teed')).text).toHaveLength(5000);
  expect((await request(app.server).get('/events')).text).toBe('data: 0\n\ndata: 1\n\ndata: 2\n\n');
  await new Promise((r) => setTimeout(r, 20));
  const text = await scrape(registry);
  expect(text.value('streamguard_rate_limit_decisions_total', { outcome: 'allowed' })).toBe(2);
  expect(text.value('streamguard_rate_limit_decisions_total', { outcome: 'limited' })).toBe(1);
  expect(text.value('streamguard_tee_captures_total', { outcome: 'completed' })).toBe(1);
  expect(text.value('streamguard_tee_truncated_total')).toBe(1);
  expect(text.value('streamguard_tee_bytes_total', { kind: 'sent' })).toBe(5000);
  expect(text.value('streamguard_tee_bytes_total', { kind: 'captured' })).toBe(1024);
  expect(text.types.get('streamguard_stream_duration_seconds')).toBe('histogram');
  expect(
    text.value('streamguard_stream_duration_seconds_count', { kind: 'sse', reason: 'closed' }),
  ).toBe(1);
  expect(text.value('streamguard_stream_active_connections', { kind: 'sse' })).toBe(0);
  expect(text.value('streamguard_stream_events_sent_total', { kind: 'sse' })).toBe(3);
  m.close();
});

test('request bodies and the buffer pool are counted, and in-use bytes return to zero', async () => {
  const { rereadableBody, BufferPool } = await import('../../src/body');
  const registry = new Registry();
  const m = metrics({ registry });
  const pool = new BufferPool({ maxInFlight: '4mb' });
  const bodies = rereadableBody({ pool, limit: '1kb' });
  const app = await mount('express5', { use: [bodies], handler: (_req, res) => res.end('ok') });
  expect((await request(app.server).post('/').type('json').send('{"a":1}')).status).toBe(200);
  expect(
    (
      await request(app.server)
        .post('/')
        .type('json')
        .send(`{"a":"${'x'.repeat(4000)}"}`)
    ).status,
  ).toBe(413);
  await new Promise((r) => setTimeout(r, 20));
  const text = await scrape(registry);
  expect(text.value('streamguard_body_reads_total', { encoding: 'identity' })).toBe(1);
  expect(text.value('streamguard_body_bytes_total', { kind: 'decoded' })).toBe(7);
  expect(text.value('streamguard_body_errors_total', { type: 'entity.too.large' })).toBe(1);
  expect(text.value('streamguard_body_pool_events_total', { event: 'lease' })).toBe(1);
  expect(text.value('streamguard_body_pool_events_total', { event: 'release' })).toBe(1);
  expect(text.value('streamguard_body_pool_in_use_bytes')).toBe(0);
  m.close();
});
