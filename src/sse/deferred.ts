/** A promise with its settle functions; marked handled so an unawaited rejection never becomes an `unhandledRejection`. */
export interface Deferred {
  promise: Promise<void>;
  resolve(): void;
  reject(err: unknown): void;
}

function ignore(): void {}

/** Creates a {@link Deferred}. */
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

/** A rejected promise that is already marked handled (awaiting it still throws). */
export function handledRejection(err: unknown): Promise<void> {
  const p = Promise.reject(err);
  p.catch(ignore);
  return p;
}

export const RESOLVED: Promise<void> = Promise.resolve();
