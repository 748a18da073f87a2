import type { IncomingMessage, ServerResponse } from 'node:http';
import onFinished from 'on-finished';
import { type DescribedError, describeError } from '../core/errors';
import { sentHeader } from '../core/headers';
import { type Logger, loggerOption } from '../core/logger';
import { readOptions } from '../core/options';
import { traceId } from '../core/trace';
import type { ErrorRequestHandler, NextFunction } from '../core/types';

/** Options for {@link errorFrames}. */
export interface ErrorFramesOptions {
  /** Where 5xx errors are reported (one line each, with the trace id). Default: `console.warn`. */
  logger?: Logger;
  /** Report 5xx errors through `logger`. Default `true`. */
  log5xx?: boolean;
}

/**
 * An error handler that answers any error with the right status and an
 * {@link ErrorFrame} JSON body `{ code, message, trace_id }`. Statuses,
 * `expose` and `headers` are read as Express's final handler reads them
 * (http-errors shape); 5xx messages are replaced by the status text. When
 * the response is already an event stream it ends it with an SSE `error`
 * event (or an NDJSON `{"error":…}` line) instead; any other response whose
 * headers are out has its connection closed. The request body, if unread,
 * is drained first so the socket never hangs.
 *
 * @example
 * app.use(rateLimit());
 * app.get('/', handler);
 * app.use(errorFrames());
 */
export function errorFrames(options?: ErrorFramesOptions): ErrorRequestHandler {
  const o = readOptions(options, 'errorFrames', ['logger', 'log5xx']);
  const logger = loggerOption(o.logger);
  const log5xx = o.log5xx ?? true;
  if (typeof log5xx !== 'boolean') throw new TypeError('option log5xx must be a boolean');

  return function errorFramesHandler(
    err: unknown,
    req: IncomingMessage,
    res: ServerResponse,
    _next: NextFunction,
  ): void {
    const described = describeError(err, traceId(req));
    if (log5xx && described.status >= 500) {
      logger.warn(
        `${req.method ?? 'GET'} ${req.url ?? '/'} failed with ${described.status} (trace ${described.frame.trace_id})`,
        err,
      );
    }
    if (res.headersSent) {
      endStartedResponse(res, described);
      return;
    }
    req.unpipe();
    onFinished(req, function writeFrame() {
      writeErrorFrame(req, res, described);
    });
    req.resume();
  };
}

function writeErrorFrame(
  req: IncomingMessage,
  res: ServerResponse,
  described: DescribedError,
): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify(described.frame);
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  for (const [name, value] of Object.entries(described.headers)) res.setHeader(name, value);
  res.statusCode = described.status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-store');
  res.end(req.method === 'HEAD' ? undefined : body);
}

function endStartedResponse(res: ServerResponse, described: DescribedError): void {
  const type = sentHeader(res, 'content-type') ?? '';
  if (res.writableEnded || res.destroyed) return;
  if (type.startsWith('text/event-stream')) {
    res.end(`event: error\ndata: ${JSON.stringify(described.frame)}\n\n`);
  } else if (type.startsWith('application/x-ndjson')) {
    res.end(`${JSON.stringify({ error: described.frame })}\n`);
  } else {
    res.destroy();
  }
}
