import { integerOption, readOptions } from '../core/options.js';
import { Chain, type Link } from './chain.js';
import {
  gcraConsume,
  gcraConsumeLimits,
  gcraRefund,
  gcraRefundLimits,
  type LimitsState,
} from './gcra.js';
import type { Decision, LimitsDecision, LimitsPolicy, MultiLimitStore, Policy } from './policy.js';

/**
 * Options for {@link MemoryStore}.
 *
 * @example
 * const options: MemoryStoreOptions = { maxKeys: 50_000 };
 */
export interface MemoryStoreOptions {
  /**
   * Most keys kept. Beyond it the least recently used key is evicted, but a
   * key in the penalty box only when every key held is in the box. Default `100_000`.
   */
  maxKeys?: number;
}

/** A bucket, linked into the recency order it belongs to. */
interface Entry extends LimitsState, Link {
  readonly key: string;
}

/** How many of the oldest entries a sweep inspects for expiry. */
const SWEEP = 16;
/** Besides every new key, every this many calls sweeps (a power of two). */
const SWEEP_EVERY = 8;

/**
 * An in-process store, bounded by `maxKeys`, with no timer per key and O(1)
 * work per call. A `Map` finds a key; two linked lists hold the keys in
 * least-recently-used order: keys in the penalty box on one, all others on
 * the other. A new key beyond `maxKeys` evicts the least recently used key
 * that is not blocked, so spraying fresh keys cannot push a blocked client
 * out of the box (and give it a fresh bucket); only when every key held is
 * blocked does the oldest blocked key go. Expired keys are dropped from the
 * old end whenever a new key arrives and every few calls: cleanup is
 * amortised, never a walk over the whole map.
 *
 * @example
 * const store = new MemoryStore({ maxKeys: 50_000 });
 * app.use(rateLimit({ rate: 10, interval: '1s', burst: 30, store }));
 */
export class MemoryStore implements MultiLimitStore {
  readonly maxKeys: number;
  private readonly buckets = new Map<string, Entry>();
  /** Keys not in the penalty box, least recently used first. */
  private readonly free = new Chain<Entry>();
  /** Keys in the penalty box, least recently used first. */
  private readonly boxed = new Chain<Entry>();
  private calls = 0;

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
    const decision = gcraConsume(state, cost, policy, now);
    // Recently used: the newest end of the list it now belongs on.
    if (state.blockedUntil > now) this.boxed.push(state);
    else this.free.push(state);
    return decision;
  }

  refund(key: string, cost: number, policy: Policy, now: number = Date.now()): void {
    const state = this.buckets.get(key);
    if (state !== undefined) gcraRefund(state, cost, policy, now);
  }

  /** Several limits on one key, decided together: all admit and all are charged, or none is. */
  consumeLimits(
    key: string,
    cost: number,
    policy: LimitsPolicy,
    now: number = Date.now(),
  ): LimitsDecision {
    const state = this.touch(key, now);
    const decision = gcraConsumeLimits(state, cost, policy, now);
    if (state.blockedUntil > now) this.boxed.push(state);
    else this.free.push(state);
    return decision;
  }

  refundLimits(key: string, cost: number, policy: LimitsPolicy, now: number = Date.now()): void {
    const state = this.buckets.get(key);
    if (state !== undefined) gcraRefundLimits(state, cost, policy, now);
  }

  /** Forgets every key. */
  close(): void {
    this.buckets.clear();
    this.free.clear();
    this.boxed.clear();
  }

  /** The key's state, fresh if it is new or expired. */
  private touch(key: string, now: number): Entry {
    const buckets = this.buckets;
    let state = buckets.get(key);
    if (state === undefined || (++this.calls & (SWEEP_EVERY - 1)) === 0) this.sweep(now, state);
    if (state === undefined) {
      if (buckets.size >= this.maxKeys) this.evict();
      state = {
        key,
        tat: now,
        tats: undefined,
        rejects: 0,
        blockedUntil: 0,
        level: 0,
        expires: now,
        prev: null,
        next: null,
        chain: null,
      };
      buckets.set(key, state);
    } else if (state.expires <= now) {
      state.tat = now;
      state.tats = undefined;
      state.rejects = 0;
      state.blockedUntil = 0;
      state.level = 0;
    }
    return state;
  }

  /**
   * Bounded work from the old ends: keys whose block has ended leave the box
   * (to the old end of the other list), expired keys are dropped. Never
   * `current` (about to be used).
   */
  private sweep(now: number, current: Entry | undefined): void {
    for (let i = 0; i < SWEEP; i++) {
      const oldest = this.boxed.head;
      if (oldest === null || oldest.blockedUntil > now) break;
      this.free.unshift(oldest);
    }
    for (let i = 0; i < SWEEP; i++) {
      const oldest = this.free.head;
      if (oldest === null || oldest.expires > now || oldest === current) return;
      this.drop(oldest);
    }
  }

  /** The least recently used key not in the box; a boxed one only if all are. */
  private evict(): void {
    const victim = this.free.head ?? this.boxed.head;
    if (victim !== null) this.drop(victim);
  }

  private drop(entry: Entry): void {
    (entry.chain as Chain<Entry> | null)?.remove(entry);
    this.buckets.delete(entry.key);
  }
}
