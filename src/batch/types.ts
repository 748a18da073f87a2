import type { Logger } from '../core/logger.js';

/** Why a batch was cut. */
export type FlushReason = 'size' | 'time' | 'flush' | 'close';

/**
 * Options for {@link createBatcher}.
 *
 * @example
 * const options: BatcherOptions<AuditRecord> = { key: (r) => r.tenant, maxSize: 100, maxWait: '1s', handler: writeRows };
 */
export interface BatcherOptions<T> {
  /** Receives each batch: the key and its items, in the order they were added. May be async. Required. */
  handler: (key: string, items: T[]) => unknown;
  /** The queue an item belongs to. Default: one queue (`'default'`). */
  key?: (item: T) => string;
  /** Items that cut a batch at once. Default 100. */
  maxSize?: number;
  /** How long the first item of a batch may wait before the batch is cut (ms or `'1s'`). Default `'1s'`. */
  maxWait?: number | string;
  /** Items accepted but not yet handled, across all keys. Default 10,000. */
  maxPending?: number;
  /** What `add()` does when `maxPending` is reached: wait for room, or reject with 503 `batch.full`. Default `'wait'`. */
  onFull?: 'wait' | 'reject';
  /**
   * With `onFull: 'wait'`, how many `add()` calls may wait for room; past it `add()` rejects with
   * 503 `batch.full`, so producers that do not await cannot grow memory without limit (use
   * `ready()` to wait for room). An integer >= 0. Default: `maxPending`.
   */
  maxWaiting?: number;
  /** Batches handled at once across keys (one at a time per key, always). Default unbounded. */
  concurrency?: number;
  /** Where handler failures are reported (they also reject that batch's `add()` promises). */
  logger?: Logger;
}

/**
 * Live counters of a {@link Batcher}.
 *
 * @example
 * console.log(batcher.stats().pending);
 */
export interface BatcherStats {
  /** Items accepted and not yet handled (queued or in a running batch). */
  pending: number;
  /** Keys with queued or running work. */
  keys: number;
  /** Batches running now. */
  running: number;
  /** `add()` calls waiting for room (`onFull: 'wait'`). */
  waiting: number;
  /** Batches handled successfully. */
  flushed: number;
  /** Batches whose handler threw or rejected. */
  failed: number;
}

/**
 * A per-key write-behind queue: see {@link createBatcher}.
 *
 * @example
 * await batcher.add({ tenant: 'a', line: 'x' });
 */
export interface Batcher<T> {
  /** Queues an item; settles with its batch's outcome (rejects with the handler's error). */
  add(item: T): Promise<void>;
  /**
   * Resolves when an `add()` would be accepted at once (fewer than `maxPending` items pending and
   * nobody waiting ahead), without waiting for any batch, like p-queue's `onSizeLessThan`. Rejects
   * with 503 `batch.closed` once the batcher is closed. Every caller waiting shares one promise.
   */
  ready(): Promise<void>;
  /** Cuts every queued batch now; resolves when everything accepted so far has been handled. */
  flush(): Promise<void>;
  /** Rejects new adds (503 `batch.closed`), flushes everything, resolves when all is handled. Idempotent. */
  close(): Promise<void>;
  /** Live counters. */
  stats(): BatcherStats;
  readonly closed: boolean;
}
