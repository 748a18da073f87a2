import type { Decision, Policy } from './policy';

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
function expiry(state: BucketState, policy: Policy): number {
  let at = state.tat;
  const penalty = policy.penalty;
  if (penalty !== undefined && state.level > 0) {
    const last = Math.min(penalty.duration * penalty.escalate ** (state.level - 1), penalty.max);
    at = Math.max(at, state.blockedUntil + last);
  }
  return at;
}
