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

  // responseTee (src/tee)
  /** A teed response closed and its record was built: {@link TeeCaptureMessage}. */
  teeCapture: 'streamguard:tee:capture',

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
