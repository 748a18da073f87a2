/**
 * The MemoryStore as it was before issue 17 (a Map iterated in insertion
 * order), kept only so bench/rate-limit/spray.ts can print before/after
 * ratios in one run. Not part of the package.
 */
import { integerOption, readOptions } from '../../src/core/options';
import { type BucketState, gcraConsume, gcraRefund } from '../../src/rate-limit/gcra';
import type { Decision, Policy, RateLimitStore } from '../../src/rate-limit/policy';

/**
 * Options for {@link MemoryStore}.
 *
 * @example
 * const options: MemoryStoreOptions = { maxKeys: 50_000 };
 */
export interface MemoryStoreOptions {
  /** Most keys kept; the least recently used is evicted beyond it. Default `100_000`. */
  maxKeys?: number;
}

/** A bucket and when it was last moved to the recent end of the order. */
interface Entry extends BucketState {
  stamp: number;
}

/** How many of the oldest entries a sweep inspects for expiry. */
const SWEEP = 16;
/** Besides every new key, every this many calls sweeps (a power of two). */
const SWEEP_EVERY = 8;

/**
 * An in-process store: a `Map` kept in least-recently-used order (a touched
 * key is re-inserted at the end), bounded by `maxKeys`, with no timer per key.
 * Expired keys are dropped from the old end whenever a new key arrives and
 * every few calls, so cleanup is amortised and spraying keys cannot exhaust
 * memory.
 *
 * @example
 * const store = new MemoryStore({ maxKeys: 50_000 });
 * app.use(rateLimit({ rate: 10, interval: '1s', burst: 30, store }));
 */
export class OldMemoryStore implements RateLimitStore {
  readonly maxKeys: number;
  private readonly buckets = new Map<string, Entry>();
  private calls = 0;
  /** Insertions into `buckets` so far: the clock of the recency order. */
  private inserts = 0;
  /** A key re-inserted fewer than this many insertions ago is not moved again. */
  private readonly moveAfter: number;

  constructor(options?: MemoryStoreOptions) {
    const o = readOptions(options, 'MemoryStore', ['maxKeys']);
    this.maxKeys = integerOption(o.maxKeys, 'maxKeys', 100_000, 1);
    this.moveAfter = Math.floor(this.maxKeys / 4);
  }

  /** Keys currently held (expired ones may linger until swept). */
  get size(): number {
    return this.buckets.size;
  }

  consume(key: string, cost: number, policy: Policy, now: number = Date.now()): Decision {
    const state = this.touch(key, now);
    return gcraConsume(state, cost, policy, now);
  }

  refund(key: string, cost: number, policy: Policy, now: number = Date.now()): void {
    const state = this.buckets.get(key);
    if (state !== undefined) gcraRefund(state, cost, policy, now);
  }

  /** Forgets every key. */
  close(): void {
    this.buckets.clear();
  }

  /**
   * The key's state, fresh if it is new or expired, moved to the recent end.
   * A key already among the last quarter of insertions stays where it is: a
   * hot key costs no `Map` delete and re-insert per request, and is still far
   * from the old end eviction takes from (`maxKeys` below 4 is exact LRU).
   */
  private touch(key: string, now: number): BucketState {
    const buckets = this.buckets;
    let state = buckets.get(key);
    if (state === undefined || (++this.calls & (SWEEP_EVERY - 1)) === 0) this.sweep(now, key);
    if (state === undefined) {
      state = { tat: now, rejects: 0, blockedUntil: 0, level: 0, expires: now, stamp: 0 };
      if (buckets.size >= this.maxKeys) this.evictOldest();
    } else {
      if (state.expires <= now) {
        state.tat = now;
        state.rejects = 0;
        state.blockedUntil = 0;
        state.level = 0;
      }
      if (this.inserts - state.stamp < this.moveAfter) return state;
      buckets.delete(key);
    }
    state.stamp = ++this.inserts;
    buckets.set(key, state);
    return state;
  }

  /** Drops expired keys from the old end, but never `current` (about to be used). */
  private sweep(now: number, current: string): void {
    let checked = 0;
    for (const [key, state] of this.buckets) {
      if (checked++ === SWEEP || state.expires > now) return;
      if (key !== current) this.buckets.delete(key);
    }
  }

  private evictOldest(): void {
    const oldest = this.buckets.keys().next();
    if (oldest.done !== true) this.buckets.delete(oldest.value);
  }
}
