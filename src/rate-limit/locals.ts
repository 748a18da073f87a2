import type { ServerResponse } from 'node:http';
import { ensureLocals, LOCALS } from '../core/locals.js';

/**
 * `res.locals.rateLimit`: the decision for this request.
 *
 * @example
 * app.get('/', (req, res) => res.json({ left: res.locals.rateLimit?.remaining }));
 */
export interface RateLimitInfo {
  /** The key the request was counted under (`'1.2.3.4'`, `'2001:db8::/56'`, …). */
  key: string;
  /** Whether the request was admitted. */
  allowed: boolean;
  /** The bucket's capacity (`burst`). */
  limit: number;
  /** Cost units left after this request. */
  remaining: number;
  /** What this request cost. */
  cost: number;
  /** Milliseconds until the bucket is full again. */
  reset: number;
  /** Seconds to wait before retrying (0 when admitted), as in `Retry-After`. */
  retryAfter: number;
  /** Epoch milliseconds when the key leaves the penalty box, or 0 when not blocked. */
  blockedUntil: number;
  /** The decision came from the fallback store because the main store failed. */
  fallback: boolean;
  /** With several `limits`: each limit's state, in order. */
  limits?: RateLimitPolicyInfo[];
}

/**
 * One limit's state in `res.locals.rateLimit.limits`.
 *
 * @example
 * const minute = rateLimitOf(res)?.limits?.find((l) => l.name === '1m');
 */
export interface RateLimitPolicyInfo {
  /** The policy name, as in the headers. */
  name: string;
  /** This limit's capacity. */
  limit: number;
  /** Cost units left in it after this request. */
  remaining: number;
  /** Milliseconds until it is full again. */
  reset: number;
}

/**
 * The decision `rateLimit()` made for this request, typed, on Express,
 * Connect and plain `node:http` alike; `undefined` when no limiter counted
 * it (not mounted, or `skip` returned true).
 *
 * @example
 * res.setHeader('X-Left', String(rateLimitOf(res)?.remaining ?? ''));
 */
export function rateLimitOf(res: ServerResponse): RateLimitInfo | undefined {
  return (ensureLocals(res)[LOCALS.rateLimit] as RateLimitInfo | undefined) ?? undefined;
}

declare global {
  namespace Express {
    interface Locals {
      /** Set by streamguard's `rateLimit()`. */
      rateLimit?: RateLimitInfo;
    }
  }
}
