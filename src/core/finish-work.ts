/**
 * Work a response still owes after it closed (a tee record built and handed
 * to `onFinish`, which may hand it to a batcher), counted on the server the
 * response was served by, so `shutdown(server)` can wait for it before it
 * closes the batchers, without any module keeping a list of requests. The
 * count lives on the server, under a registry symbol shared by every copy of
 * streamguard in the process (like the shutdown hooks).
 */
const kWork = Symbol.for('streamguard.finishWork');

interface FinishWork {
  count: number;
  idle: (() => void)[];
}

type Counted = object & { [kWork]?: FinishWork };

function workOf(server: object): FinishWork {
  const counted = server as Counted;
  let work = counted[kWork];
  if (work === undefined) {
    work = { count: 0, idle: [] };
    counted[kWork] = work;
  }
  return work;
}

/**
 * Counts one piece of finish work on `server` until the returned function is
 * called (idempotent). Hold it from when a response starts (or closes) until
 * its last callback settled. A missing server counts nothing.
 *
 * @example
 * const done = holdFinishWork(serverOf(req.socket));
 * Promise.resolve(onFinish(record)).finally(done);
 */
export function holdFinishWork(server: object | undefined): () => void {
  if (server === undefined) return noop;
  const work = workOf(server);
  work.count++;
  let released = false;
  return function releaseFinishWork(): void {
    if (released) return;
    released = true;
    work.count--;
    if (work.count === 0) for (const wake of work.idle.splice(0)) wake();
  };
}

/**
 * How much finish work is held on `server` now.
 *
 * @example
 * if (pendingFinishWork(server) > 0) console.log('records still being written');
 */
export function pendingFinishWork(server: object): number {
  return (server as Counted)[kWork]?.count ?? 0;
}

/**
 * Resolves when no finish work is held on `server` (at once if none is).
 * Unbounded: the caller races it against its own deadline.
 *
 * @example
 * await finishWorkSettled(server);
 */
export function finishWorkSettled(server: object): Promise<void> {
  const work = (server as Counted)[kWork];
  if (work === undefined || work.count === 0) return Promise.resolve();
  return new Promise((resolve) => work.idle.push(resolve));
}

function noop(): void {}
