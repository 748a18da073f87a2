import diagnostics from 'node:diagnostics_channel';

/**
 * Every `node:diagnostics_channel` name a streamguard middleware publishes
 * to, `streamguard:<middleware>:<event>`. Publishing costs nothing when
 * nobody subscribes. `metrics()` subscribes to them; so can OpenTelemetry or
 * your own code.
 *
 * @example
 * import diagnostics from 'node:diagnostics_channel';
 * diagnostics.subscribe(CHANNELS.callbackError, (msg) => console.log(msg));
 */
export const CHANNELS = {
  /** A user callback threw or rejected: {@link CallbackErrorMessage}. */
  callbackError: 'streamguard:core:callback-error',
  /** `shutdown(server)` began: {@link ShutdownMessage}. Open streams of that server close themselves. */
  shutdown: 'streamguard:core:shutdown',

  // rereadableBody (src/body)
  /** A body was read into a lease: {@link BodyReadMessage}. */
  bodyRead: 'streamguard:body:read',
  /** Reading a body failed: {@link BodyErrorMessage}. */
  bodyError: 'streamguard:body:error',
  /** A BufferPool leased, released or refused memory: {@link BodyPoolMessage}. */
  bodyPool: 'streamguard:body:pool',

  // responseTee (src/tee)
  /** A teed response closed and its record was built: {@link TeeCaptureMessage}. */
  teeCapture: 'streamguard:tee:capture',

  // sse, ndjson, channels (src/sse)
  /** An event stream opened: {@link SseOpenMessage}. */
  sseOpen: 'streamguard:sse:open',
  /** An event stream closed, with duration and reason: {@link SseCloseMessage}. */
  sseClose: 'streamguard:sse:close',
  /** A write blocked on a slow client (the buffer was full): {@link SseBlockedMessage}. */
  sseBlocked: 'streamguard:sse:blocked',
  /** An event was dropped by the `drop` overflow policy: {@link SseDropMessage}. */
  sseDrop: 'streamguard:sse:drop',

  // rateLimit (src/rate-limit)
  /** One decision per counted request: {@link RateLimitDecisionMessage}. */
  rateLimitDecision: 'streamguard:rate-limit:decision',
  /** The store failed (or recovered): {@link RateLimitStoreErrorMessage}. */
  rateLimitStoreError: 'streamguard:rate-limit:store-error',

  // createBatcher (src/batch)
  /** A batch was handled (or failed): {@link BatchFlushMessage}. */
  batchFlush: 'streamguard:batch:flush',
} as const;

/** Published on `streamguard:core:callback-error`. */
export interface CallbackErrorMessage {
  middleware: string;
  callback: string;
  error: unknown;
}

/** Published on `streamguard:core:shutdown` when `shutdown(server)` begins. */
export interface ShutdownMessage {
  /** The server shutting down (a `node:http` or `node:https` Server). */
  server: object;
}

// Message types, one block per middleware, in the order above.

// rereadableBody (src/body)
/** Published on `streamguard:body:read`. */
export interface BodyReadMessage {
  /** Decoded body length in bytes. */
  length: number;
  /** Bytes received on the wire (differs when inflated). */
  received: number;
  /** `identity`, `gzip`, `deflate` or `br`. */
  encoding: string;
  /** Whether the bytes were adopted from a parser that ran before (NestJS `rawBody`). */
  adopted: boolean;
}
/** Published on `streamguard:body:error`. */
export interface BodyErrorMessage {
  status: number;
  type: string;
}
/** Published on `streamguard:body:pool`. */
export interface BodyPoolMessage {
  event: 'lease' | 'release' | 'exhausted';
  /** The size class involved. */
  bytes: number;
  stats: BufferPoolStats;
}

/**
 * A snapshot of a {@link BufferPool}'s counters.
 *
 * @example
 * const { inUse, peak, hits, misses } = pool.stats();
 */
export interface BufferPoolStats {
  /** Leases served from a free list. */
  hits: number;
  /** Leases that had to allocate. */
  misses: number;
  /** Leases refused because of the in-flight budget. */
  rejected: number;
  /** Bytes currently leased (size-class bytes). */
  inUse: number;
  /** Bytes kept in free lists. */
  retained: number;
  /** Highest `inUse` seen. */
  peak: number;
  /** Leases currently outstanding. */
  leases: number;
}

// responseTee (src/tee)

/** Published on `streamguard:tee:capture` when a teed response's record is handed over. */
export interface TeeCaptureMessage {
  status: number;
  outcome: 'completed' | 'aborted' | 'errored';
  /** Body bytes sent. */
  bytes: number;
  /** Body bytes captured. */
  capturedBytes: number;
  truncated: boolean;
  /** Milliseconds from the tee seeing the request to the response closing. */
  durationMs: number;
}

// sse, ndjson, channels (src/sse)

/** Published on `streamguard:sse:open`. */
export interface SseOpenMessage {
  /** `'sse'` or `'ndjson'`. */
  kind: 'sse' | 'ndjson';
  /** The request's trace id. */
  traceId: string;
}

/** Published on `streamguard:sse:close`. */
export interface SseCloseMessage {
  kind: 'sse' | 'ndjson';
  traceId: string;
  /** Why it closed: `client-closed`, `closed`, `shutdown`, `write-timeout`, `overflow` or `error`. */
  reason: string;
  /** Milliseconds the stream was open. */
  durationMs: number;
  /** Events written. */
  sent: number;
  /** Events dropped by the `drop` policy. */
  dropped: number;
  /** Bytes handed to the socket. */
  bytes: number;
}

/** Published on `streamguard:sse:blocked`. */
export interface SseBlockedMessage {
  kind: 'sse' | 'ndjson';
  traceId: string;
  /** Bytes buffered for this client when it blocked. */
  bufferedBytes: number;
}

/** Published on `streamguard:sse:drop`. */
export interface SseDropMessage {
  kind: 'sse' | 'ndjson';
  traceId: string;
  /** Size of the dropped event. */
  bytes: number;
  bufferedBytes: number;
}

// rateLimit (src/rate-limit)

/** Published on `streamguard:rate-limit:decision` for every request the limiter counted. */
export interface RateLimitDecisionMessage {
  key: string;
  allowed: boolean;
  /** Rejected by the penalty box (without touching the bucket) or just put into it. */
  blocked: boolean;
  cost: number;
  limit: number;
  remaining: number;
  /**
   * Milliseconds until a retry could succeed (0 when allowed; `Infinity` when it never can: a cost
   * above `burst`, decided without asking the store).
   */
  retryAfter: number;
  /** The decision came from the fallback store. */
  fallback: boolean;
}

/** Published on `streamguard:rate-limit:store-error` for every failed store call. */
export interface RateLimitStoreErrorMessage {
  error: unknown;
  /** `consume` or `refund`. */
  operation: 'consume' | 'refund';
  /** What the request got: the fallback store's decision, a pass, or a 503. */
  action: 'fallback' | 'allow' | 'deny' | 'none';
}

// createBatcher (src/batch)

/** Published on `streamguard:batch:flush` after each batch's handler settled. */
export interface BatchFlushMessage {
  key: string;
  size: number;
  reason: 'size' | 'time' | 'flush' | 'close';
  ok: boolean;
  durationMs: number;
}

/**
 * The message type published on each channel, by channel name: what a
 * subscriber receives. Every name in {@link CHANNELS} has an entry.
 *
 * @example
 * diagnostics.subscribe(CHANNELS.sseClose, (message) => {
 *   const { reason, durationMs } = message as ChannelMessages[typeof CHANNELS.sseClose];
 * });
 */
export interface ChannelMessages {
  'streamguard:core:callback-error': CallbackErrorMessage;
  'streamguard:core:shutdown': ShutdownMessage;
  'streamguard:body:read': BodyReadMessage;
  'streamguard:body:error': BodyErrorMessage;
  'streamguard:body:pool': BodyPoolMessage;
  'streamguard:tee:capture': TeeCaptureMessage;
  'streamguard:sse:open': SseOpenMessage;
  'streamguard:sse:close': SseCloseMessage;
  'streamguard:sse:blocked': SseBlockedMessage;
  'streamguard:sse:drop': SseDropMessage;
  'streamguard:rate-limit:decision': RateLimitDecisionMessage;
  'streamguard:rate-limit:store-error': RateLimitStoreErrorMessage;
  'streamguard:batch:flush': BatchFlushMessage;
}

/**
 * A publish function for one channel. `active` tells whether anyone
 * subscribes, so a hot path builds its message only then.
 *
 * @example
 * if (publishOpen.active) publishOpen({ id });
 */
export interface Publisher<T extends object> {
  (message: T): void;
  /** Whether the channel has subscribers right now. */
  readonly active: boolean;
}

/**
 * A typed publish function for one channel; a no-op unless someone subscribes.
 *
 * @example
 * const publishOpen = publisher<{ id: string }>('streamguard:sse:open');
 * publishOpen({ id });
 */
export function publisher<T extends object>(name: string): Publisher<T> {
  const channel = diagnostics.channel(name);
  function publish(message: T): void {
    if (channel.hasSubscribers) channel.publish(message);
  }
  Object.defineProperty(publish, 'active', {
    get: function active() {
      return channel.hasSubscribers;
    },
  });
  return publish as Publisher<T>;
}
