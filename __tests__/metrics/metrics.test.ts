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
