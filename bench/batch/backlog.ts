import type { createBatcher as CreateBatcher } from '../../src/batch';

/**
 * A large backlog (issue 14): `items` adds against a handler slower than the
 * producer, with `waiting` adds held waiting for room (`onFull: 'wait'`) the
 * whole time, so every queue of the batcher is long: the waiters, each key's
 * cut batches, and the keys waiting for a `concurrency` slot. A queue drained
 * with `Array.prototype.shift()` costs O(length) per item here, so the case
 * shows whether the batcher stays linear. The handler yields one turn of the
 * event loop per batch and does no I/O.
 *
 * @example
 * const result = await backlog(createBatcher, { items: 1_000_000, waiting: 100_000, keys: 1 });
 */
export interface BacklogCase {
  name: string;
  items: number;
  waiting: number;
  keys: number;
  maxSize: number;
  maxPending: number;
  concurrency: number;
}

export interface BacklogResult {
  name: string;
  seconds: number;
  itemsPerSecond: number;
  peakWaiting: number;
}

function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export async function backlog(
  createBatcher: typeof CreateBatcher,
  spec: BacklogCase,
): Promise<BacklogResult> {
  let handled = 0;
  const keys = spec.keys;
  // `maxWaiting` is new: an older batcher rejects unknown options, so pass it only when supported.
  const options: Parameters<typeof CreateBatcher<number>>[0] & { maxWaiting?: number } = {
    key: (n) => `k${n % keys}`,
    maxSize: spec.maxSize,
    maxWait: 10,
    maxPending: spec.maxPending,
    concurrency: spec.concurrency,
    handler: async (_key, items) => {
      await turn();
      handled += items.length;
    },
  };
  let batcher: ReturnType<typeof CreateBatcher<number>>;
  try {
    batcher = createBatcher<number>({ ...options, maxWaiting: spec.waiting });
  } catch {
    batcher = createBatcher<number>(options);
  }
  let peakWaiting = 0;
  const started = process.hrtime.bigint();
  let failures = 0;
  const countFailure = () => {
    failures++;
  };
  for (let i = 0; i < spec.items; i++) {
    // Keep `waiting` adds queued: produce until the backlog is full, then let the handler run.
    while (batcher.stats().waiting >= spec.waiting) await turn();
    batcher.add(i).catch(countFailure);
    peakWaiting = Math.max(peakWaiting, batcher.stats().waiting);
  }
  // close() refuses adds still waiting for room: let them in first.
  while (batcher.stats().waiting > 0) await turn();
  await batcher.close();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (handled !== spec.items || failures > 0)
    throw new Error(`${spec.name}: handled ${handled} of ${spec.items}, ${failures} failed`);
  return { name: spec.name, seconds, itemsPerSecond: spec.items / seconds, peakWaiting };
}
