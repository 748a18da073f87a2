import {
  type IncomingMessage,
  type ServerResponse,
  STATUS_CODES,
  validateHeaderName,
  validateHeaderValue,
} from 'node:http';
import { codeFromType, type DescribedError, describeError, HttpError } from '../core/errors.js';
import { sentHeader } from '../core/headers.js';
import { type Logger, loggerOption } from '../core/logger.js';
import { booleanOption, readOptions } from '../core/options.js';
import { streamFailure } from '../core/stream-failure.js';
import { traceId } from '../core/trace.js';
import type { ErrorRequestHandler, NextFunction } from '../core/types.js';
import { parseBytes } from '../core/units.js';

/** Options for {@link errorFrames}. */
export interface ErrorFramesOptions {
  /** Where 5xx errors (and dropped invalid error headers) are reported. Default: `console.warn`. */
  logger?: Logger;
  /** Report 5xx errors through `logger`. Default `true`. */
  log5xx?: boolean;
  /**
   * At most this many bytes of an unread request body are drained before the
   * answer; past that the answer goes out at once with `Connection: close`
   * and the rest of the body is not read. A byte size (`'1mb'`, `65536`).
   * Default `'1mb'`, as `rereadableBody()`'s `drainLimit`.
   */
  drainLimit?: number | string;
}

interface Config {
  readonly logger: Logger;
  readonly log5xx: boolean;
  readonly drainLimit: number;
}

/**
 * An error handler that answers any error with the right status and an
 * {@link ErrorFrame} JSON body `{ code, message, trace_id }`. Statuses,
 * `expose` and `headers` are read as Express's final handler reads them
 * (http-errors shape), except that a 5xx exposes nothing of a foreign error:
 * its message is the status text, its code the status's (`INTERNAL_SERVER_ERROR`),
 * and its `headers` are ignored; only a streamguard {@link HttpError} keeps
 * its code and headers (a 503's `Retry-After`). Error headers with an
 * invalid name or value are dropped and logged. When the response is already
 * an event stream opened by `sse()`/`ndjson()`, the stream itself ends with an
 * `error` event (or an NDJSON `{"error":…}` line), closing with reason
 * `error`; a hand-made `text/event-stream` or `application/x-ndjson`
 * response gets the same last frame; any other response whose headers are
 * out has its connection closed. An unread request body is drained first, up
 * to `drainLimit` bytes; a longer one is answered at once with
 * `Connection: close` and not read further, so an early 401/404/429 never
 * waits for a whole upload and the socket never hangs.
 *
 * @example
 * app.use(rateLimit());
 * app.get('/', handler);
 * app.use(errorFrames({ drainLimit: '256kb' }));
 */
export function errorFrames(options?: ErrorFramesOptions): ErrorRequestHandler {
  const o = readOptions(options, 'errorFrames', ['logger', 'log5xx', 'drainLimit']);
  const config: Config = Object.freeze({
    logger: loggerOption(o.logger),
    log5xx: booleanOption(o.log5xx, 'log5xx', true),
    drainLimit: parseBytes(o.drainLimit ?? '1mb', 'drainLimit'),
  });

  return function errorFramesHandler(
    err: unknown,
    req: IncomingMessage,
    res: ServerResponse,
    _next: NextFunction,
  ): void {
    const described = describe(err, traceId(req));
    if (config.log5xx && described.status >= 500) {
      report(
        config.logger,
        `${req.method ?? 'GET'} ${req.url ?? '/'} failed with ${described.status} (trace ${described.frame.trace_id})`,
        err,
      );
    }
    if (res.headersSent) {
      endStartedResponse(res, described);
      return;
    }
    const headers = validHeaders(described.headers, config.logger, described.frame.trace_id);
    afterBody(req, config.drainLimit, function writeFrame(close: boolean): void {
      writeErrorFrame(req, res, described, headers, close);
    });
  };
}

/**
 * {@link describeError}, minus what a 5xx must not reveal: a foreign error's
 * `code` (an upstream's `ECONNREFUSED`, a driver's error code) and `headers`
 * (an HTTP client error carries the upstream's, `Set-Cookie` included).
 */
function describe(err: unknown, trace: string): DescribedError {
  const described = describeError(err, trace);
  if (described.status < 500 || err instanceof HttpError) return described;
  const code = codeFromType(STATUS_CODES[described.status] ?? 'Error');
  return { ...described, frame: { ...described.frame, code }, headers: {} };
}

/** The error's headers Node accepts; each invalid one is dropped and logged (never thrown later, from a callback). */
function validHeaders(
  headers: Readonly<Record<string, string>>,
  logger: Logger,
  trace: string,
): [string, string][] {
  const valid: [string, string][] = [];
  for (const [name, value] of Object.entries(headers)) {
    try {
      validateHeaderName(name);
      validateHeaderValue(name, value);
      valid.push([name, value]);
    } catch (error) {
      report(logger, `errorFrames dropped an invalid error header (trace ${trace})`, error);
    }
  }
  return valid;
}

/**
 * Calls `answer(false)` once the request body has been read to its end
 * (at once when it already was), draining what nobody read; or
 * `answer(true)` as soon as more than `drainLimit` bytes were drained, after
 * which the request is no longer read (the answer closes the connection).
 * Every listener it adds is removed before `answer` runs.
 */
function afterBody(
  req: IncomingMessage,
  drainLimit: number,
  answer: (close: boolean) => void,
): void {
  req.unpipe();
  if (req.complete || req.readableEnded || req.destroyed) {
    setImmediate(answer, false);
    if (!req.readableEnded) req.resume();
    return;
  }
  let drained = 0;
  function countDrained(chunk: Buffer | string): void {
    drained += chunk.length;
    if (drained <= drainLimit) return;
    done();
    req.pause();
    answer(true);
  }
  function onEnd(): void {
    done();
    answer(false);
  }
  function done(): void {
    req.removeListener('data', countDrained);
    req.removeListener('end', onEnd);
    req.removeListener('close', onEnd);
  }
  req.on('data', countDrained);
  req.once('end', onEnd);
  req.once('close', onEnd);
  req.resume();
}

function writeErrorFrame(
  req: IncomingMessage,
  res: ServerResponse,
  described: DescribedError,
  headers: readonly [string, string][],
  close: boolean,
): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify(described.frame);
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  for (const [name, value] of headers) res.setHeader(name, value);
  res.statusCode = described.status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-store');
  if (close) res.setHeader('Connection', 'close');
  res.end(req.method === 'HEAD' ? undefined : body);
}

function endStartedResponse(res: ServerResponse, described: DescribedError): void {
  if (res.writableEnded || res.destroyed) return;
  const endStream = streamFailure(res);
  if (endStream !== undefined) {
    endStream(described.frame);
    // A stream that had already closed leaves the response to us.
    if (!res.writableEnded && !res.destroyed) res.destroy();
    return;
  }
  const type = sentHeader(res, 'content-type') ?? '';
  if (type.startsWith('text/event-stream')) {
    res.end(`event: error\ndata: ${JSON.stringify(described.frame)}\n\n`);
  } else if (type.startsWith('application/x-ndjson')) {
    res.end(`${JSON.stringify({ error: described.frame })}\n`);
  } else {
    res.destroy();
  }
}

function report(logger: Logger, message: string, error: unknown): void {
  try {
    logger.warn(message, error);
  } catch {
    // A logger that throws has nowhere left to report to.
  }
}
