/**
 * Why a stream closed, as `signal.reason.reason` and in the
 * `streamguard:sse:close` message:
 * - `client-closed`: the client went away (the response closed before it finished);
 * - `closed`: the server ended it (`close()`, or the response was ended);
 * - `shutdown`: `shutdown(server)` began, or the `shutdownSignal` option was aborted;
 * - `write-timeout`: a write stayed blocked longer than `writeTimeout`;
 * - `overflow`: the byte budget was exceeded under the `close` policy (or the `wait` queue overflowed);
 * - `error`: `fail(err)` sent an `error` event and closed.
 *
 * @example
 * const why: CloseReason = (stream.signal.reason as StreamAbortError).reason;
 */
export type CloseReason =
  | 'client-closed'
  | 'closed'
  | 'shutdown'
  | 'write-timeout'
  | 'overflow'
  | 'error';

/**
 * The `signal.reason` of a closed stream, and the rejection of every send
 * after it closed: `name` is `'AbortError'`, `code` `'ABORT_ERR'` (as Node's
 * own abort errors), and `reason` says why.
 *
 * @example
 * stream.signal.addEventListener('abort', () => {
 *   const why = (stream.signal.reason as StreamAbortError).reason; // 'client-closed', …
 * });
 */
export class StreamAbortError extends Error {
  override readonly name = 'AbortError';
  readonly code = 'ABORT_ERR';
  readonly reason: CloseReason;

  constructor(reason: CloseReason) {
    super(`stream closed (${reason})`);
    this.reason = reason;
  }
}

/**
 * Whether a value is a {@link StreamAbortError} (or any `AbortError`).
 *
 * @example
 * try { await stream.send({ data }); } catch (err) { if (!isAbortError(err)) throw err; }
 */
export function isAbortError(value: unknown): boolean {
  return value instanceof Error && value.name === 'AbortError';
}
