/**
 * What a store needs to decide one request: the bucket's shape and the
 * penalty box. Built once by `rateLimit()`; stores never see user options.
 *
 * @example
 * const policy: Policy = { emission: 100, burst: 30, penalty: undefined };
 */
export interface Policy {
  /** Milliseconds per token: `interval / rate` (GCRA's emission interval T). */
  readonly emission: number;
  /** Bucket capacity in cost units; a fresh key admits exactly `burst` unit-cost requests at once. */
  readonly burst: number;
  /** The penalty box, when configured. */
  readonly penalty: PenaltyPolicy | undefined;
}

/**
 * The penalty box: after `after` consecutive rejections the key is blocked
 * for `duration` ms; each further block of the same key lasts `escalate`
 * times longer, up to `max` ms.
 *
 * @example
 * const penalty: PenaltyPolicy = { after: 3, duration: 60_000, escalate: 2, max: 3_600_000 };
 */
export interface PenaltyPolicy {
  readonly after: number;
  readonly duration: number;
  readonly escalate: number;
  readonly max: number;
}

/**
 * A store's answer for one request. Durations are relative milliseconds.
 *
 * @example
 * if (!decision.allowed) res.setHeader('Retry-After', Math.ceil(decision.retryAfter / 1000));
 */
export interface Decision {
  /** The request may proceed (its cost was taken from the bucket). */
  readonly allowed: boolean;
  /** Whole cost units left after this request. */
  readonly remaining: number;
  /** Milliseconds until the bucket is full again. */
  readonly reset: number;
  /** Milliseconds until a request of this cost would be admitted (0 when allowed). */
  readonly retryAfter: number;
  /** Milliseconds the key stays in the penalty box (0 when not blocked). */
  readonly blocked: number;
}

/**
 * Where buckets live. `consume` and `refund` may answer synchronously
 * (memory) or with a promise (Redis). `now` is a clock in milliseconds that
 * in-process stores honour (tests pass a virtual clock); a store with its own
 * clock (Redis server `TIME`) ignores it.
 *
 * @example
 * const decision = await store.consume('1.2.3.4', 1, policy);
 */
export interface RateLimitStore {
  consume(key: string, cost: number, policy: Policy, now?: number): Decision | Promise<Decision>;
  refund(key: string, cost: number, policy: Policy, now?: number): void | Promise<void>;
  close(): void | Promise<void>;
}

/**
 * One of several limits checked together (`rateLimit({ limits })`).
 *
 * @example
 * const perSecond: LimitPolicy = { name: 'burst', emission: 200, burst: 5 };
 */
export interface LimitPolicy {
  /** The policy's name in the headers. */
  readonly name: string;
  /** Milliseconds per token. */
  readonly emission: number;
  /** Capacity in cost units. */
  readonly burst: number;
}

/**
 * Several limits on one key, decided together: admitted only when every
 * limit admits, and then charged to all of them (a rejection charges none).
 * The penalty box counts the key's consecutive rejections, whichever limit
 * refused.
 *
 * @example
 * const policy: LimitsPolicy = {
 *   limits: [{ name: '1s', emission: 200, burst: 5 }, { name: '1m', emission: 800, burst: 75 }],
 *   penalty: undefined,
 * };
 */
export interface LimitsPolicy {
  readonly limits: readonly LimitPolicy[];
  readonly penalty: PenaltyPolicy | undefined;
}

/**
 * One limit's part of a {@link LimitsDecision}.
 *
 * @example
 * const part: LimitState = { remaining: 4, reset: 200 };
 */
export interface LimitState {
  /** Whole cost units left in this limit after the request. */
  readonly remaining: number;
  /** Milliseconds until this limit's bucket is full again. */
  readonly reset: number;
}

/**
 * The answer for several limits: the overall decision (`remaining` is the
 * least left in any limit, `reset` the longest refill, `retryAfter` the wait
 * until every limit admits), and each limit's own state, in order.
 *
 * @example
 * const tightest = Math.min(...decision.limits.map((l) => l.remaining));
 */
export interface LimitsDecision extends Decision {
  readonly limits: readonly LimitState[];
}

/**
 * A store that can decide several limits at once, atomically
 * (`MemoryStore` and `RedisStore` do: one Lua call on Redis).
 *
 * @example
 * const d = await store.consumeLimits('1.2.3.4', 1, { limits, penalty: undefined });
 */
export interface MultiLimitStore extends RateLimitStore {
  consumeLimits(
    key: string,
    cost: number,
    policy: LimitsPolicy,
    now?: number,
  ): LimitsDecision | Promise<LimitsDecision>;
  refundLimits(key: string, cost: number, policy: LimitsPolicy, now?: number): void | Promise<void>;
}
