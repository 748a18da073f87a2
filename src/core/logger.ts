import { type CallbackErrorMessage, CHANNELS, publisher } from './instrument.js';

/**
 * Where streamguard reports failures it must not throw: errors in user
 * callbacks (`onFinish`, `handler`, sinks), store outages, dropped events.
 *
 * @example
 * const logger: Logger = { warn: (msg, err) => pino.warn({ err }, msg) };
 */
export interface Logger {
  warn(message: string, error?: unknown): void;
}

/**
 * The default logger: one line on `console.warn`, prefixed `[streamguard]`.
 *
 * @example
 * defaultLogger.warn('tee onFinish threw', err);
 */
export const defaultLogger: Logger = {
  warn(message: string, error?: unknown): void {
    console.warn(`[streamguard] ${message}${error === undefined ? '' : `: ${oneLine(error)}`}`);
  },
};

function oneLine(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.replace(/\s+/g, ' ');
}

/**
 * Validates a `logger` option (anything with a `warn` function), defaulting to {@link defaultLogger}.
 *
 * @example
 * const logger = loggerOption(options.logger);
 */
export function loggerOption(value: unknown): Logger {
  if (value === undefined) return defaultLogger;
  if (typeof value !== 'object' || value === null || typeof (value as Logger).warn !== 'function') {
    throw new TypeError('option logger must be an object with a warn(message, error) method');
  }
  return value as Logger;
}

const publishCallbackError = publisher<CallbackErrorMessage>(CHANNELS.callbackError);

/**
 * Calls a user callback so that nothing it does can reach the request or
 * crash the process: a synchronous throw or a rejected promise is logged
 * through `logger`, and published on `streamguard:core:callback-error`
 * (which `metrics()` counts). Never throws, never returns a rejecting promise.
 *
 * @example
 * callSafely(logger, 'tee', 'onFinish', () => options.onFinish(record));
 */
export function callSafely(
  logger: Logger,
  middleware: string,
  callback: string,
  fn: () => unknown,
): void {
  function report(error: unknown): void {
    publishCallbackError({ middleware, callback, error });
    try {
      logger.warn(`${middleware} ${callback} failed`, error);
    } catch {
      // A logger that throws has nowhere left to report to.
    }
  }
  try {
    const result = fn();
    if (isThenable(result)) result.then(undefined, report);
  } catch (error) {
    report(error);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}
