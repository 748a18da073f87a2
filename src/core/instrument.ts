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

  // rereadableBody (src/body)
  /** A body was read into a lease: {@link BodyReadMessage}. */
  bodyRead: 'streamguard:body:read',
  /** Reading a body failed: {@link BodyErrorMessage}. */
  bodyError: 'streamguard:body:error',
  /** A BufferPool leased, released or refused memory: {@link BodyPoolMessage}. */
  bodyPool: 'streamguard:body:pool',

  // responseTee (src/tee)

  // sse, ndjson, channels (src/sse)

  // rateLimit (src/rate-limit)

  // createBatcher (src/batch)
} as const;

/** Published on `streamguard:core:callback-error`. */
export interface CallbackErrorMessage {
  middleware: string;
  callback: string;
  error: unknown;
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
  stats: {
    hits: number;
    misses: number;
    rejected: number;
    inUse: number;
    retained: number;
    peak: number;
    leases: number;
  };
}

// responseTee (src/tee)

// sse, ndjson, channels (src/sse)

// rateLimit (src/rate-limit)

// createBatcher (src/batch)

/**
 * A typed publish function for one channel; a no-op unless someone subscribes.
 *
 * @example
 * const publishOpen = publisher<{ id: string }>('streamguard:sse:open');
 * publishOpen({ id });
 */
export function publisher<T extends object>(name: string): (message: T) => void {
  const channel = diagnostics.channel(name);
  return function publish(message: T): void {
    if (channel.hasSubscribers) channel.publish(message);
  };
}
