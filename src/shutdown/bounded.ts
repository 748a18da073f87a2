import type { Logger } from '../core/logger.js';

/** A named close that shutdown waits for. */
export interface NamedWork {
  /** How the close is reported (`batchers[0]`). */
  name: string;
  /** Starts the close; a synchronous throw counts as a failed close. */
  start: () => unknown;
}

/**
 * Whether `promise` settles within `ms`. The timer is referenced on purpose:
 * it is cleared as soon as the promise settles, so it never delays an exit,
 * and it keeps a process whose only remaining work is a hung close alive
 * until shutdown can resolve (and the caller can exit with the right code),
 * instead of the process ending mid-shutdown.
 *
 * @example
 * const drained = await settlesWithin(closed, 10_000);
 */
export function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  // A deadline already past still gives the promise a moment (a timer's minimum of 1 ms), so what
  // is about to settle (a server with no connections left) is not counted as unfinished.
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<boolean>(function expireAfter(resolve) {
    timer = setTimeout(resolve, Math.max(ms, 1), false);
  });
  return Promise.race([promise.then(yes, yes), expired]).finally(function clear() {
    clearTimeout(timer);
  });
}

/**
 * Starts every close at once and waits for them until `ms` pass. A close
 * that fails is logged with `failure` (it finished); the names of those still
 * running at the deadline are logged (naming `bound`, the option and its value) and returned.
 *
 * @example
 * const unfinished = await closeWithin(works, 5000, logger, 'a batcher failed to flush', 'flushTimeout (5000 ms)');
 */
export async function closeWithin(
  works: readonly NamedWork[],
  ms: number,
  logger: Logger,
  failure: string,
  bound: string,
): Promise<string[]> {
  if (works.length === 0) return [];
  const finished = works.map(() => false);
  const all = works.map(function startClose(work, i): Promise<void> {
    return Promise.resolve()
      .then(work.start)
      .then(undefined, function closeFailed(error: unknown) {
        logger.warn(failure, error);
      })
      .then(function closeFinished() {
        finished[i] = true;
      });
  });
  await settlesWithin(Promise.all(all), ms);
  const unfinished = works.filter((_, i) => !finished[i]).map((work) => work.name);
  for (const name of unfinished) logger.warn(`shutdown: ${name} did not close within ${bound}`);
  return unfinished;
}

/** One turn of the event loop (the check phase after the current one). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function yes(): boolean {
  return true;
}
