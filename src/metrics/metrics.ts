import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type BatchFlushMessage,
  type BodyErrorMessage,
  type BodyPoolMessage,
  type BodyReadMessage,
  type CallbackErrorMessage,
  CHANNELS,
  type RateLimitDecisionMessage,
  type RateLimitStoreErrorMessage,
  type SseBlockedMessage,
  type SseCloseMessage,
  type SseDropMessage,
  type SseOpenMessage,
  type TeeCaptureMessage,
} from '../core/instrument.js';
import { readOptions } from '../core/options.js';
import type { NextFunction, RequestHandler } from '../core/types.js';
import {
  type CollectorConfig,
  type CounterLike,
  type GaugeLike,
  type HistogramLike,
  loadPromClient,
  type PromClient,
  type RegistryLike,
} from './prom.js';

/**
 * Options for {@link metrics}.
 *
 * @example
 * metrics({ registry: new Registry(), prefix: 'api_' });
 */
export interface MetricsOptions {
  /** Where the collectors are registered. Default: a new Registry (never prom-client's global one unless you pass it). */
  registry?: RegistryLike;
  /** Prefix of every metric name. Default `'streamguard_'`. */
  prefix?: string;
  /** Histogram buckets (seconds) for durations. Default prom-client's defaults. */
  buckets?: number[];
}

/**
 * What {@link metrics} returns.
 *
 * @example
 * app.get('/metrics', m.handler);
 */
export interface Metrics {
  readonly registry: RegistryLike;
  /** Serves the registry in the Prometheus text format. */
  readonly handler: RequestHandler;
  /** Stops listening to the diagnostics channels (the collectors stay registered). */
  close(): void;
}

/** One subscription: a channel and what its messages do to the collectors. */
interface Subscription {
  channel: string;
  onMessage: (message: unknown) => void;
}

/** Live instances per registry and prefix, so calling metrics() twice neither throws nor counts twice. */
const instances = new WeakMap<RegistryLike, Map<string, Metrics>>();

const NAME_PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * prom-client collectors for everything streamguard's middlewares publish on
 * their diagnostics channels, and a `/metrics` handler. prom-client is an
 * optional peer dependency: without it this throws a clear Error, and the
 * rest of streamguard works. Calling it again with the same registry and
 * prefix returns the same instance.
 *
 * @example
 * import { Registry } from 'prom-client';
 * const m = metrics({ registry: new Registry() });
 * app.get('/metrics', m.handler);
 */
export function metrics(options?: MetricsOptions): Metrics {
  const o = readOptions(options, 'metrics', ['registry', 'prefix', 'buckets']);
  const prefix = o.prefix ?? 'streamguard_';
  if (typeof prefix !== 'string' || (prefix !== '' && !NAME_PREFIX.test(prefix))) {
    throw new TypeError('option prefix must be a valid Prometheus metric name prefix, like "api_"');
  }
  if (
    o.buckets !== undefined &&
    (!Array.isArray(o.buckets) ||
      o.buckets.some((b) => typeof b !== 'number' || !Number.isFinite(b)))
  ) {
    throw new TypeError('option buckets must be an array of finite numbers');
  }
  if (
    o.registry !== undefined &&
    (typeof o.registry !== 'object' || typeof o.registry.metrics !== 'function')
  ) {
    throw new TypeError('option registry must be a prom-client Registry');
  }
  const prom = loadPromClient();
  const registry = o.registry ?? new prom.Registry();
  let byPrefix = instances.get(registry);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    instances.set(registry, byPrefix);
  }
  const existing = byPrefix.get(prefix);
  if (existing !== undefined) return existing;

  const make = collectorFactory(prom, registry, prefix);
  const subscriptions = [
    ...coreSubscriptions(make),
    ...batchSubscriptions(make, o.buckets),
    ...streamSubscriptions(make, o.buckets),
    ...rateLimitSubscriptions(make),
    ...teeSubscriptions(make),
    ...bodySubscriptions(make),
  ];
  for (const s of subscriptions) diagnostics.subscribe(s.channel, s.onMessage);

  const instance: Metrics = {
    registry,
    handler: metricsHandler(registry),
    close: function closeMetrics() {
      for (const s of subscriptions) diagnostics.unsubscribe(s.channel, s.onMessage);
      byPrefix.delete(prefix);
    },
  };
  byPrefix.set(prefix, instance);
  return instance;
}

/**
 * A handler serving a registry in the Prometheus text format.
 *
 * @example
 * app.get('/metrics', metricsHandler(registry));
 */
export function metricsHandler(registry: RegistryLike): RequestHandler {
  return function serveMetrics(
    _req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
  ): void {
    registry.metrics().then(function sendMetrics(text) {
      res.statusCode = 200;
      res.setHeader('Content-Type', registry.contentType);
      res.setHeader('Cache-Control', 'no-store');
      res.end(text);
    }, next);
  };
}

interface CollectorFactory {
  counter(name: string, help: string, labelNames: readonly string[]): CounterLike;
  gauge(name: string, help: string, labelNames: readonly string[]): GaugeLike;
  histogram(
    name: string,
    help: string,
    labelNames: readonly string[],
    buckets?: number[],
  ): HistogramLike;
}

/** Creates collectors on the registry, or reuses one already registered under the name. */
function collectorFactory(
  prom: PromClient,
  registry: RegistryLike,
  prefix: string,
): CollectorFactory {
  function config(name: string, help: string, labelNames: readonly string[]): CollectorConfig {
    return { name: `${prefix}${name}`, help, labelNames, registers: [registry] };
  }
  return {
    counter(name, help, labelNames) {
      return (
        (registry.getSingleMetric(`${prefix}${name}`) as CounterLike | undefined) ??
        new prom.Counter(config(name, help, labelNames))
      );
    },
    gauge(name, help, labelNames) {
      return (
        (registry.getSingleMetric(`${prefix}${name}`) as GaugeLike | undefined) ??
        new prom.Gauge(config(name, help, labelNames))
      );
    },
    histogram(name, help, labelNames, buckets) {
      const existing = registry.getSingleMetric(`${prefix}${name}`) as HistogramLike | undefined;
      if (existing !== undefined) return existing;
      return new prom.Histogram(
        buckets === undefined
          ? config(name, help, labelNames)
          : { ...config(name, help, labelNames), buckets },
      );
    },
  };
}

function coreSubscriptions(make: CollectorFactory): Subscription[] {
  const errors = make.counter(
    'callback_errors_total',
    'Errors thrown or rejected by user callbacks (onFinish, handler, sinks)',
    ['middleware', 'callback'],
  );
  return [
    {
      channel: CHANNELS.callbackError,
      onMessage: function countCallbackError(message) {
        const m = message as CallbackErrorMessage;
        errors.inc({ middleware: m.middleware, callback: m.callback });
      },
    },
  ];
}

function batchSubscriptions(make: CollectorFactory, buckets: number[] | undefined): Subscription[] {
  const flushes = make.counter(
    'batch_flushes_total',
    'Batches handled, by why they were cut and outcome',
    ['reason', 'outcome'],
  );
  const items = make.counter('batch_items_total', 'Items handled in batches, by outcome', [
    'outcome',
  ]);
  const duration = make.histogram(
    'batch_flush_duration_seconds',
    'Time a batch handler took',
    ['outcome'],
    buckets,
  );
  return [
    {
      channel: CHANNELS.batchFlush,
      onMessage: function countFlush(message) {
        const m = message as BatchFlushMessage;
        const outcome = m.ok ? 'ok' : 'failed';
        flushes.inc({ reason: m.reason, outcome });
        items.inc({ outcome }, m.size);
        duration.observe({ outcome }, m.durationMs / 1000);
      },
    },
  ];
}

function streamSubscriptions(
  make: CollectorFactory,
  buckets: number[] | undefined,
): Subscription[] {
  const duration = make.histogram(
    'stream_duration_seconds',
    'How long event streams stayed open, by why they closed',
    ['kind', 'reason'],
    buckets,
  );
  const active = make.gauge('stream_active_connections', 'Event streams open now', ['kind']);
  const blocked = make.counter(
    'write_blocked_total',
    'Writes that found a client buffer full and waited for drain',
    ['kind'],
  );
  const dropped = make.counter(
    'stream_events_dropped_total',
    "Events dropped by the 'drop' overflow policy",
    ['kind'],
  );
  const sent = make.counter('stream_events_sent_total', 'Events handed to clients', ['kind']);
  return [
    {
      channel: CHANNELS.sseOpen,
      onMessage: function streamOpened(message) {
        active.inc({ kind: (message as SseOpenMessage).kind });
      },
    },
    {
      channel: CHANNELS.sseClose,
      onMessage: function streamClosed(message) {
        const m = message as SseCloseMessage;
        active.dec({ kind: m.kind });
        duration.observe({ kind: m.kind, reason: m.reason }, m.durationMs / 1000);
        sent.inc({ kind: m.kind }, m.sent);
      },
    },
    {
      channel: CHANNELS.sseBlocked,
      onMessage: function writeBlocked(message) {
        blocked.inc({ kind: (message as SseBlockedMessage).kind });
      },
    },
    {
      channel: CHANNELS.sseDrop,
      onMessage: function eventDropped(message) {
        dropped.inc({ kind: (message as SseDropMessage).kind });
      },
    },
  ];
}

function rateLimitSubscriptions(make: CollectorFactory): Subscription[] {
  const decisions = make.counter('rate_limit_decisions_total', 'Rate limit decisions, by outcome', [
    'outcome',
  ]);
  const storeErrors = make.counter(
    'rate_limit_store_errors_total',
    'Rate limit store failures, by what the request got',
    ['action'],
  );
  return [
    {
      channel: CHANNELS.rateLimitDecision,
      onMessage: function countDecision(message) {
        const m = message as RateLimitDecisionMessage;
        const outcome = m.allowed
          ? m.fallback
            ? 'allowed_fallback'
            : 'allowed'
          : m.blocked
            ? 'blocked'
            : 'limited';
        decisions.inc({ outcome });
      },
    },
    {
      channel: CHANNELS.rateLimitStoreError,
      onMessage: function countStoreError(message) {
        storeErrors.inc({ action: (message as RateLimitStoreErrorMessage).action });
      },
    },
  ];
}

function teeSubscriptions(make: CollectorFactory): Subscription[] {
  const captures = make.counter('tee_captures_total', 'Responses teed, by outcome', ['outcome']);
  const truncated = make.counter(
    'tee_truncated_total',
    'Teed responses whose capture was cut at its bound',
    [],
  );
  const bytes = make.counter('tee_bytes_total', 'Body bytes sent through a tee, and captured', [
    'kind',
  ]);
  return [
    {
      channel: CHANNELS.teeCapture,
      onMessage: function countCapture(message) {
        const m = message as TeeCaptureMessage;
        captures.inc({ outcome: m.outcome });
        if (m.truncated) truncated.inc({});
        bytes.inc({ kind: 'sent' }, m.bytes);
        bytes.inc({ kind: 'captured' }, m.capturedBytes);
      },
    },
  ];
}

function bodySubscriptions(make: CollectorFactory): Subscription[] {
  const reads = make.counter(
    'body_reads_total',
    'Request bodies read into a pooled lease, by content encoding',
    ['encoding'],
  );
  const bytes = make.counter('body_bytes_total', 'Request body bytes, as received and as decoded', [
    'kind',
  ]);
  const errors = make.counter('body_errors_total', 'Request bodies refused, by error type', [
    'type',
  ]);
  const events = make.counter(
    'body_pool_events_total',
    'Buffer pool leases, releases and refusals (pool exhausted)',
    ['event'],
  );
  const inUse = make.gauge('body_pool_in_use_bytes', 'Bytes leased to requests now', []);
  const retained = make.gauge('body_pool_retained_bytes', 'Bytes kept for reuse', []);
  const peak = make.gauge('body_pool_peak_bytes', 'Most bytes ever leased at once', []);
  const hits = make.gauge(
    'body_pool_hits',
    'Leases served from retained memory (cumulative, as last reported)',
    [],
  );
  const misses = make.gauge(
    'body_pool_misses',
    'Leases that allocated (cumulative, as last reported)',
    [],
  );
  return [
    {
      channel: CHANNELS.bodyRead,
      onMessage: function countRead(message) {
        const m = message as BodyReadMessage;
        reads.inc({ encoding: m.encoding });
        bytes.inc({ kind: 'received' }, m.received);
        bytes.inc({ kind: 'decoded' }, m.length);
      },
    },
    {
      channel: CHANNELS.bodyError,
      onMessage: function countBodyError(message) {
        errors.inc({ type: (message as BodyErrorMessage).type });
      },
    },
    {
      channel: CHANNELS.bodyPool,
      onMessage: function trackPool(message) {
        const m = message as BodyPoolMessage;
        events.inc({ event: m.event });
        inUse.set({}, m.stats.inUse);
        retained.set({}, m.stats.retained);
        peak.set({}, m.stats.peak);
        hits.set({}, m.stats.hits);
        misses.set({}, m.stats.misses);
      },
    },
  ];
}
