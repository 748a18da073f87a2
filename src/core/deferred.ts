/**
 * Promise plumbing shared by the middlewares: a promise with its settle functions, and
 * promises marked handled so one nobody awaits never becomes an `unhandledRejection`
 * (whoever awaits it still sees it reject).
 *
 * @example
 * const done = deferred();
 * queue.push(done);
 * return done.promise;
 */
export interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function ignore(): void {}

/**
 * Creates a {@link Deferred} whose promise is already marked handled.
 *
 * @example
 * const drain = deferred();
 * res.once('drain', drain.resolve);
 * await drain.promise;
 */
export function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>(function executor(res, rej) {
    resolve = res;
    reject = rej;
  });
  promise.catch(ignore);
  return { promise, resolve, reject };
}

/**
 * Marks `promise` handled and returns it: an unawaited rejection is not an
 * `unhandledRejection`; awaiting it still throws.
 *
 * @example
 * return handled(flush());
 */
export function handled<T>(promise: Promise<T>): Promise<T> {
  promise.catch(ignore);
  return promise;
}

/**
 * A rejected promise that is already marked handled (awaiting it still throws).
 *
 * @example
 * if (closed) return handledRejection(signal.reason);
 */
export function handledRejection(err: unknown): Promise<void> {
  return handled(Promise.reject(err));
}

/**
 * One resolved promise to return where nothing is pending.
 *
 * @example
 * if (queue.length === 0) return RESOLVED;
 */
export const RESOLVED: Promise<void> = Promise.resolve();
