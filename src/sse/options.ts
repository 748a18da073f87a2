import { type Logger, loggerOption } from '../core/logger.js';
import { booleanOption, enumOption, integerOption, readOptions } from '../core/options.js';
import { parseBytes, parseDuration, show } from '../core/units.js';
import { signalFanout } from './signal-fanout.js';
import type { OverflowPolicy, WriterConfig } from './writer.js';

/** Options shared by {@link sse} and {@link ndjson}. */
export interface StreamOptions {
  /** Per-client byte budget (response + socket buffers). Default `'256kb'`. */
  maxBufferedBytes?: number | string;
  /** What happens to an event that does not fit the budget: `'wait'` (default), `'drop'` or `'close'`. */
  overflow?: OverflowPolicy;
  /** How long a write may stay blocked before the response is destroyed (reason `write-timeout`); `0` never. Default `'30s'`. */
  writeTimeout?: number | string;
  /** Interval of the heartbeat comment sent when the stream was idle for that long; `0` or `false` off. Default `'15s'` for SSE, off for NDJSON. */
  heartbeat?: number | string | false;
  /** Write all events sent in the same tick as one `res.write`. Default `false`. */
  coalesce?: boolean;
  /** Aborting this signal closes every stream the middleware opened, gracefully (reason `shutdown`). */
  shutdownSignal?: AbortSignal;
  /** Where failures are reported. Default: one line on `console.warn`. */
  logger?: Logger;
}

/** Options of {@link sse}. */
export interface SseOptions extends StreamOptions {
  /** The heartbeat comment's text (`': ping'`). Default `''` (a bare `:` line). */
  heartbeatComment?: string;
  /** Longest `Last-Event-ID` accepted (characters); longer is a 400. Default 256. */
  maxLastEventIdLength?: number;
  /** A `retry:` (milliseconds) sent first thing, telling clients how long to wait before reconnecting. Default none. */
  retry?: number;
  /**
   * The event name of the ErrorFrame a failure after the headers sends
   * (`fail()`, `errorFrames()`). Default `'error'`. `EventSource` fires its
   * own `error` event for connection problems, so a name of your own
   * (`'stream-error'`) keeps the two apart in `addEventListener`.
   */
  errorEvent?: string;
}

export const STREAM_KEYS = [
  'maxBufferedBytes',
  'overflow',
  'writeTimeout',
  'heartbeat',
  'coalesce',
  'shutdownSignal',
  'logger',
] as const;

export function writerConfig(
  o: Partial<StreamOptions>,
  kind: 'sse' | 'ndjson',
  heartbeatText: string,
): WriterConfig {
  const heartbeatDefault = kind === 'sse' ? 15000 : 0;
  const heartbeat =
    o.heartbeat === undefined
      ? heartbeatDefault
      : o.heartbeat === false
        ? 0
        : parseDuration(o.heartbeat, 'heartbeat');
  const shutdownSignal = o.shutdownSignal;
  if (shutdownSignal !== undefined && !(shutdownSignal instanceof AbortSignal))
    throw new TypeError(
      `option shutdownSignal must be an AbortSignal, got ${show(shutdownSignal)}`,
    );
  const maxBufferedBytes = parseBytes(o.maxBufferedBytes ?? '256kb', 'maxBufferedBytes');
  if (maxBufferedBytes === 0)
    throw new TypeError('option maxBufferedBytes must be a positive byte size');
  return Object.freeze({
    kind,
    maxBufferedBytes,
    overflow: enumOption(o.overflow, 'overflow', ['wait', 'drop', 'close'] as const, 'wait'),
    writeTimeout: parseDuration(o.writeTimeout ?? '30s', 'writeTimeout'),
    heartbeat,
    heartbeatText,
    coalesce: booleanOption(o.coalesce, 'coalesce', false),
    shutdown: shutdownSignal === undefined ? undefined : signalFanout(shutdownSignal),
    logger: loggerOption(o.logger),
  });
}

export interface SseConfig {
  readonly writer: WriterConfig;
  readonly maxLastEventIdLength: number;
  readonly retry: number | undefined;
  readonly errorEvent: string;
}

export function sseConfig(options: SseOptions | undefined): SseConfig {
  const o = readOptions(options, 'sse', [
    ...STREAM_KEYS,
    'heartbeatComment',
    'maxLastEventIdLength',
    'retry',
    'errorEvent',
  ]);
  const comment = o.heartbeatComment ?? '';
  if (typeof comment !== 'string' || /[\r\n]/.test(comment))
    throw new TypeError('option heartbeatComment must be a one-line string');
  const heartbeatText = comment === '' ? ':\n\n' : `: ${comment}\n\n`;
  const errorEvent = o.errorEvent ?? 'error';
  if (typeof errorEvent !== 'string' || errorEvent === '' || /[\r\n]/.test(errorEvent))
    throw new TypeError(
      `option errorEvent must be a non-empty event name without CR or LF, got ${show(errorEvent)}`,
    );
  return Object.freeze({
    writer: writerConfig(o, 'sse', heartbeatText),
    maxLastEventIdLength: integerOption(o.maxLastEventIdLength, 'maxLastEventIdLength', 256, 0),
    retry: o.retry === undefined ? undefined : integerOption(o.retry, 'retry', 0, 0),
    errorEvent,
  });
}

export function ndjsonConfig(options: StreamOptions | undefined): WriterConfig {
  const o = readOptions(options, 'ndjson', STREAM_KEYS);
  return writerConfig(o, 'ndjson', '\n');
}
