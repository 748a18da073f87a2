import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../core/errors.js';
import { ensureLocals, LOCALS } from '../core/locals.js';
import type { NextFunction, RequestHandler } from '../core/types.js';
import { readLastEventId } from './last-event-id.js';
import { NdjsonStream } from './ndjson-stream.js';
import { NO_RECONNECT_ID, refuseReconnect } from './no-reconnect.js';
import { ndjsonConfig, type SseOptions, type StreamOptions, sseConfig } from './options.js';
import { SseStream } from './sse-stream.js';

function headersAlreadySent(): HttpError {
  return new HttpError(
    500,
    'sse.headers.sent',
    'cannot start an event stream: headers already sent',
  );
}

function startResponse(req: IncomingMessage, res: ServerResponse, contentType: string): void {
  res.statusCode = 200;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Cache-Control', 'no-cache, no-transform');
  res.setHeader('X-Accel-Buffering', 'no');
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1)
    res.setHeader('Connection', 'keep-alive');
  res.removeHeader('Content-Length');
  req.socket?.setNoDelay(true);
  res.flushHeaders();
}

/**
 * Opens a server-sent event stream: sets `Content-Type: text/event-stream;
 * charset=utf-8`, `Cache-Control: no-cache, no-transform`,
 * `X-Accel-Buffering: no` (and `Connection: keep-alive` on HTTP/1.1),
 * flushes the headers at once, puts an {@link SseStream} on
 * `res.locals.sse` (read it typed with {@link sseOf}) and calls `next()`. The stream's signal is wired to the
 * response before anything else runs. A malformed `Last-Event-ID` is a 400
 * `sse.last.event.id.invalid` (before any header goes out). A reconnect
 * whose `Last-Event-ID` is {@link NO_RECONNECT_ID} (left by
 * `stream.close({ reconnect: false })`) is answered `204 No Content` and the
 * route does not run: the client stops reconnecting.
 *
 * @example
 * app.get('/events', sse({ heartbeat: '15s', maxBufferedBytes: '64kb' }), (req, res) => {
 *   const stream = sseOf(res);
 *   const timer = setInterval(() => stream.send({ data: Date.now() }), 1000);
 *   stream.signal.addEventListener('abort', () => clearInterval(timer));
 * });
 */
export function sse(options?: SseOptions): RequestHandler {
  const config = sseConfig(options);
  return function sseMiddleware(req: IncomingMessage, res: ServerResponse, next: NextFunction) {
    if (res.headersSent) {
      next(headersAlreadySent());
      return;
    }
    const lastEventId = readLastEventId(req, config.maxLastEventIdLength);
    if (lastEventId instanceof HttpError) {
      next(lastEventId);
      return;
    }
    // The stream told this client to stop (`close({ reconnect: false })`): 204 ends its retries.
    if (lastEventId === NO_RECONNECT_ID) {
      refuseReconnect(res);
      return;
    }
    startResponse(req, res, 'text/event-stream; charset=utf-8');
    const stream = new SseStream(req, res, config.writer, lastEventId, config.errorEvent);
    ensureLocals(res)[LOCALS.sse] = stream;
    if (config.retry !== undefined) stream.send({ retry: config.retry });
    next();
  };
}

/**
 * The same writer for newline-delimited JSON: `Content-Type:
 * application/x-ndjson`, one JSON document per line, an
 * {@link NdjsonStream} on `res.locals.ndjson` (read it typed with
 * {@link ndjsonOf}) with the same budget,
 * backpressure, deadline and signal. No heartbeat unless asked (it is an
 * empty line, which most NDJSON readers skip).
 *
 * @example
 * app.get('/export', ndjson({ writeTimeout: '10s' }), async (req, res) => {
 *   const stream = ndjsonOf(res);
 *   await stream.pipe(db.cursor());
 *   stream.close();
 * });
 */
export function ndjson(options?: StreamOptions): RequestHandler {
  const config = ndjsonConfig(options);
  return function ndjsonMiddleware(req: IncomingMessage, res: ServerResponse, next: NextFunction) {
    if (res.headersSent) {
      next(headersAlreadySent());
      return;
    }
    startResponse(req, res, 'application/x-ndjson; charset=utf-8');
    const stream = new NdjsonStream(req, res, config);
    const locals = ensureLocals(res);
    locals[LOCALS.ndjson] = stream;
    // Deprecated alias (0.1.0 put both streams on res.locals.sse); untyped, removed before 1.0.
    locals[LOCALS.sse] = stream;
    next();
  };
}
