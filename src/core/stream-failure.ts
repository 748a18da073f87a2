import type { ServerResponse } from 'node:http';
import type { ErrorFrame } from './errors.js';
import { ensureLocals } from './locals.js';

/**
 * How a response that is already an event stream ends with an error: the
 * stream writes what it accepted, then `frame` in its own framing (an SSE
 * `error` event, an NDJSON `{"error":…}` line), and closes with reason
 * `error`. Registered by the stream (`sse()`, `ndjson()`), called by an
 * error handler (`errorFrames()`), so neither imports the other.
 *
 * @example
 * const end: EndStreamWithError = (frame) => stream.endWithFrame(frame);
 */
export type EndStreamWithError = (frame: ErrorFrame) => void;

// Symbol.for: the ESM and CommonJS builds (or a copied src/core) agree on the key.
const kStreamFailure = Symbol.for('streamguard.streamFailure');

type LocalsWithFailure = Record<string, unknown> & { [kStreamFailure]?: EndStreamWithError };

/**
 * Registers how the event stream on `res` ends with an error (one per response).
 *
 * @example
 * registerStreamFailure(res, (frame) => this.endWithFrame(frame));
 */
export function registerStreamFailure(res: ServerResponse, end: EndStreamWithError): void {
  (ensureLocals(res) as LocalsWithFailure)[kStreamFailure] = end;
}

/**
 * The function a stream registered with {@link registerStreamFailure}, if any.
 *
 * @example
 * const end = streamFailure(res);
 * if (end !== undefined) end(frame);
 */
export function streamFailure(res: ServerResponse): EndStreamWithError | undefined {
  const locals = (res as ServerResponse & { locals?: unknown }).locals;
  if (typeof locals !== 'object' || locals === null) return undefined;
  const end = (locals as LocalsWithFailure)[kStreamFailure];
  return typeof end === 'function' ? end : undefined;
}
