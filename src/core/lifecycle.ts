import type { ServerResponse } from 'node:http';
import onFinished from 'on-finished';

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
 * Runs `cleanup` once when the response has finished or its connection
 * closed (the `on-finished` package), and returns the idempotent cleanup so
 * the caller may also run it early.
 *
 * @example
 * const cleanup = onResponseDone(res, () => lease.release());
 */
export function onResponseDone(res: ServerResponse, cleanup: () => void): () => void {
  const run = once(cleanup);
  onFinished(res, run);
  return run;
}
