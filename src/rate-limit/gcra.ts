import type {
  Decision,
  LimitPolicy,
  LimitState,
  LimitsDecision,
  LimitsPolicy,
  Policy,
} from './policy.js';

/**
 * The whole state of one key: GCRA's theoretical arrival time, the count of
 * consecutive rejections, the end of the current block and how many blocks
 * the key has served (for escalation). Times are absolute milliseconds.
 *
 * @example
 * const fresh: BucketState = { tat: 0, rejects: 0, blockedUntil: 0, level: 0, expires: 0 };
 */
export interface BucketState {
  tat: number;
  rejects: number;
  blockedUntil: number;
  level: number;
  /** When the state is indistinguishable from a fresh key and may be dropped. */
  expires: number;
}

/**
 * One GCRA decision, mutating `state` in place. The RedisStore's Lua script
 * is a line-by-line port of this function.
 *
 * - blocked (`now < blockedUntil`): rejected before the bucket is touched;
 * - `tat' = max(tat, now) + cost·T`; admitted iff `tat' − burst·T ≤ now`;
 * - a rejection changes nothing but the consecutive-rejection counter, which
 *   may put the key in the penalty box; an admission resets the counter.
 *
 * @example
 * const d = gcraConsume(state, 1, policy, Date.now());
 */
export function gcraConsume(
  state: BucketState,
  cost: number,
  policy: Policy,
  now: number,
): Decision {
  const T = policy.emission;
  const window = policy.burst * T;
  if (now < state.blockedUntil) {
    const wait = state.blockedUntil - now;
    const reset = Math.max(state.tat - now, 0);
    return { allowed: false, remaining: 0, reset, retryAfter: wait, blocked: wait };
  }
  const base = state.tat > now ? state.tat : now;
  const next = base + cost * T;
  const allowAt = next - window;
  if (allowAt <= now) {
    state.tat = next;
    state.rejects = 0;
    state.expires = expiry(state, policy);
    const remaining = Math.floor((window - (next - now)) / T + 1e-9);
    return { allowed: true, remaining, reset: next - now, retryAfter: 0, blocked: 0 };
  }
  const remaining = Math.max(Math.floor((window - (base - now)) / T + 1e-9), 0);
  const reset = base - now;
  const penalty = policy.penalty;
  if (penalty !== undefined) {
    state.rejects += 1;
    if (state.rejects >= penalty.after) {
      const length = Math.min(penalty.duration * penalty.escalate ** state.level, penalty.max);
      state.blockedUntil = now + length;
      state.level += 1;
      state.rejects = 0;
      state.expires = expiry(state, policy);
      return { allowed: false, remaining, reset, retryAfter: length, blocked: length };
    }
    state.expires = expiry(state, policy);
  }
  return { allowed: false, remaining, reset, retryAfter: allowAt - now, blocked: 0 };
}

/**
 * Gives `cost` back to the bucket (never beyond full).
 *
 * @example
 * gcraRefund(state, 1, policy, Date.now());
 */
export function gcraRefund(state: BucketState, cost: number, policy: Policy, now: number): void {
  const tat = state.tat - cost * policy.emission;
  state.tat = tat > now ? tat : now;
  state.expires = expiry(state, policy);
}

/**
 * A key may be forgotten once its bucket is full, it is not blocked, and (if
 * it was ever blocked) it has stayed out of the box as long as its last block
 * lasted — so escalation decays.
 */
function expiry(state: BucketState, policy: { readonly penalty: Policy['penalty'] }): number {
  let at = state.tat;
  const penalty = policy.penalty;
  if (penalty !== undefined && state.level > 0) {
    const last = Math.min(penalty.duration * penalty.escalate ** (state.level - 1), penalty.max);
    at = Math.max(at, state.blockedUntil + last);
  }
  return at;
}

/**
 * The state of one key under several limits: one theoretical arrival time
 * per limit (`tats[i]`, absent = fresh) and the shared penalty box fields.
 *
 * @example
 * const fresh: LimitsState = { tat: 0, tats: [], rejects: 0, blockedUntil: 0, level: 0, expires: 0 };
 */
export interface LimitsState extends BucketState {
  tats: number[] | undefined;
}

/**
 * GCRA over several limits at once: each limit `i` computes
 * `tat'ᵢ = max(tatᵢ, now) + cost·Tᵢ`; the request is admitted iff every
 * `tat'ᵢ − burstᵢ·Tᵢ ≤ now`, and only then are all `tatᵢ` moved (all or
 * none). A rejection's `retryAfter` is the longest wait among the limits that
 * refused. The Lua script `GCRA_LIMITS_SCRIPT` is a port of this function.
 *
 * @example
 * const d = gcraConsumeLimits(state, 1, { limits, penalty: undefined }, Date.now());
 */
export function gcraConsumeLimits(
  state: LimitsState,
  cost: number,
  policy: LimitsPolicy,
  now: number,
): LimitsDecision {
  const limits = policy.limits;
  const n = limits.length;
  let tats = state.tats;
  if (tats === undefined) {
    tats = [];
    state.tats = tats;
  }
  const parts: LimitState[] = new Array(n);
  if (now < state.blockedUntil) {
    const wait = state.blockedUntil - now;
    let reset = 0;
    for (let i = 0; i < n; i++) {
      const r = Math.max((tats[i] ?? now) - now, 0);
      parts[i] = { remaining: 0, reset: r };
      if (r > reset) reset = r;
    }
    return { allowed: false, remaining: 0, reset, retryAfter: wait, blocked: wait, limits: parts };
  }
  let wait = 0;
  for (let i = 0; i < n; i++) {
    const limit = limits[i] as LimitPolicy;
    const tat = tats[i] ?? now;
    const base = tat > now ? tat : now;
    const allowAt = base + cost * limit.emission - limit.burst * limit.emission;
    if (allowAt - now > wait) wait = allowAt - now;
  }
  const allowed = wait <= 0;
  let remaining = Number.POSITIVE_INFINITY;
  let reset = 0;
  for (let i = 0; i < n; i++) {
    const limit = limits[i] as LimitPolicy;
    const T = limit.emission;
    const window = limit.burst * T;
    const tat = tats[i] ?? now;
    const base = tat > now ? tat : now;
    const end = allowed ? base + cost * T : base;
    if (allowed) tats[i] = end;
    const left = Math.max(Math.floor((window - (end - now)) / T + 1e-9), 0);
    parts[i] = { remaining: left, reset: end - now };
    if (left < remaining) remaining = left;
    if (end - now > reset) reset = end - now;
  }
  if (remaining === Number.POSITIVE_INFINITY) remaining = 0;
  if (allowed) {
    state.rejects = 0;
    state.expires = limitsExpiry(state, policy);
    return { allowed: true, remaining, reset, retryAfter: 0, blocked: 0, limits: parts };
  }
  const penalty = policy.penalty;
  if (penalty !== undefined) {
    state.rejects += 1;
    if (state.rejects >= penalty.after) {
      const length = Math.min(penalty.duration * penalty.escalate ** state.level, penalty.max);
      state.blockedUntil = now + length;
      state.level += 1;
      state.rejects = 0;
      state.expires = limitsExpiry(state, policy);
      return {
        allowed: false,
        remaining,
        reset,
        retryAfter: length,
        blocked: length,
        limits: parts,
      };
    }
    state.expires = limitsExpiry(state, policy);
  }
  return { allowed: false, remaining, reset, retryAfter: wait, blocked: 0, limits: parts };
}

/**
 * Gives `cost` back to every limit (never beyond full).
 *
 * @example
 * gcraRefundLimits(state, 1, policy, Date.now());
 */
export function gcraRefundLimits(
  state: LimitsState,
  cost: number,
  policy: LimitsPolicy,
  now: number,
): void {
  const tats = state.tats;
  if (tats === undefined) return;
  const limits = policy.limits;
  for (let i = 0; i < limits.length; i++) {
    const tat = (tats[i] ?? now) - cost * (limits[i] as LimitPolicy).emission;
    tats[i] = tat > now ? tat : now;
  }
  state.expires = limitsExpiry(state, policy);
}

/** As {@link expiry}, with the latest of the limits' arrival times. */
function limitsExpiry(state: LimitsState, policy: LimitsPolicy): number {
  let at = 0;
  for (const tat of state.tats ?? []) if (tat > at) at = tat;
  state.tat = at;
  return expiry(state, policy);
}
