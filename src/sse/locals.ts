import type { ServerResponse } from 'node:http';
import { HttpError } from '../core/errors.js';
import { ensureLocals, LOCALS } from '../core/locals.js';
import type { NdjsonStream } from './ndjson-stream.js';
import type { SseStream } from './sse-stream.js';

declare global {
  namespace Express {
    interface Locals {
      /** The {@link SseStream} `sse()` opened (streamguard). */
      sse?: SseStream;
      /** The {@link NdjsonStream} `ndjson()` opened (streamguard). */
      ndjson?: NdjsonStream;
    }
  }
}

function notMounted(key: 'sse' | 'ndjson', hint: string): HttpError {
  return new HttpError(
    500,
    `${key}.not.mounted`,
    `res.locals.${key} is not set: mount ${key}() before this handler${hint}`,
  );
}

/**
 * The {@link SseStream} `sse()` put on this response, typed, on Express,
 * Connect and plain `node:http` alike. Throws an `HttpError` 500
 * `sse.not.mounted` (so it reaches `next(err)` from a handler) when `sse()`
 * did not run for this request, or when the stream is `ndjson()`'s.
 *
 * @example
 * app.get('/events', sse(), async (req, res) => {
 *   const stream = sseOf(res); // SseStream, no cast
 *   await stream.send({ event: 'hello', data: 'world' });
 * });
 */
export function sseOf(res: ServerResponse): SseStream {
  const locals = ensureLocals(res);
  const stream = locals[LOCALS.sse];
  if (stream === undefined || stream === null) throw notMounted('sse', '');
  // ndjson() still sets res.locals.sse (deprecated alias): that is not an SSE stream.
  if (stream === locals[LOCALS.ndjson])
    throw notMounted('sse', ' (this response is an ndjson() stream: use ndjsonOf(res))');
  return stream as SseStream;
}

/**
 * The {@link NdjsonStream} `ndjson()` put on this response, typed, on
 * Express, Connect and plain `node:http` alike. Throws an `HttpError` 500
 * `ndjson.not.mounted` when `ndjson()` did not run for this request.
 *
 * @example
 * app.get('/rows', ndjson(), async (req, res) => {
 *   const stream = ndjsonOf(res); // NdjsonStream, no cast
 *   await stream.pipe(db.cursor());
 *   stream.close();
 * });
 */
export function ndjsonOf(res: ServerResponse): NdjsonStream {
  const stream = ensureLocals(res)[LOCALS.ndjson];
  if (stream === undefined || stream === null) throw notMounted('ndjson', '');
  return stream as NdjsonStream;
}
