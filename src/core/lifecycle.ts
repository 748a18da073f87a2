import type { ServerResponse } from 'node:http';

/**
 * Wraps a cleanup so it runs at most once, however often it is called.
 *
 * @example
 * const cleanup = once(() => lease.release());
 */
export function once(fn: () => void): () => void {
  let done = false;
  return function runOnce(): void {
    if (done) return;
    done = true;
    fn();
  };
}

/**
 * Runs `cleanup` once when the response is done, and returns the idempotent
 * cleanup so the caller may also run it early.
 *
 * "Done" is the response's `'close'` event: on Node >= 20 every
 * `ServerResponse` emits it exactly once, a tick after `'finish'` when the
 * response completed, or when its connection was lost first. One listener
 * on the response replaces the `on-finished` package here, whose listeners
 * on the socket and the response cost several times more per request; a
 * response already closed runs the cleanup on the next turn, as on-finished
 * does.
 *
 * @example
 * const cleanup = onResponseDone(res, () => lease.release());
 */
export function onResponseDone(res: ServerResponse, cleanup: () => void): () => void {
  const run = once(cleanup);
  if ((res as ServerResponse & { closed?: boolean }).closed === true) setImmediate(run);
  else res.once('close', run);
  return run;
}
