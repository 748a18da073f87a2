import { integerOption, readOptions } from '../core/options';
import { type BucketState, gcraConsume, gcraRefund } from './gcra';
import type { Decision, Policy, RateLimitStore } from './policy';

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

/** How many of the oldest entries each call inspects for expiry. */
const SWEEP = 2;

/**
 * An in-process store: a `Map` kept in least-recently-used order (a touched
 * key is re-inserted at the end), bounded by `maxKeys`, with no timer per key.
 * Expired keys are dropped a couple at a time from the old end on every call,
 * so cleanup is amortised and spraying keys cannot exhaust memory.
 *
 * @example
 * const store = new MemoryStore({ maxKeys: 50_000 });
 * app.use(rateLimit({ rate: 10, interval: '1s', burst: 30, store }));
 */
export class MemoryStore implements RateLimitStore {
  readonly maxKeys: number;
  private readonly buckets = new Map<string, BucketState>();

  constructor(options?: MemoryStoreOptions) {
    const o = readOptions(options, 'MemoryStore', ['maxKeys']);
    this.maxKeys = integerOption(o.maxKeys, 'maxKeys', 100_000, 1);
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

  private touch(key: string, now: number): BucketState {
    const buckets = this.buckets;
    this.sweep(now);
    let state = buckets.get(key);
    if (state === undefined) {
      state = { tat: now, rejects: 0, blockedUntil: 0, level: 0, expires: now };
      if (buckets.size >= this.maxKeys) this.evictOldest();
    } else {
      buckets.delete(key);
      if (state.expires <= now) {
        state.tat = now;
        state.rejects = 0;
        state.blockedUntil = 0;
        state.level = 0;
      }
    }
    buckets.set(key, state);
    return state;
  }

  private sweep(now: number): void {
    let checked = 0;
    for (const [key, state] of this.buckets) {
      if (checked++ === SWEEP || state.expires > now) return;
      this.buckets.delete(key);
    }
  }

  private evictOldest(): void {
    const oldest = this.buckets.keys().next();
    if (oldest.done !== true) this.buckets.delete(oldest.value);
  }
}
