/**
 * `streamguard/rate-limit`: a token bucket per client (GCRA) with one Redis
 * round trip, a penalty box, and the IETF rate limit headers.
 *
 * @example
 * import { MemoryStore, RedisStore, rateLimit } from 'streamguard/rate-limit';
 */
import './locals.js';

export type { RateLimitDecisionMessage, RateLimitStoreErrorMessage } from '../core/instrument.js';
export type { IoRedisLike, NodeRedisLike, RedisClientLike, SendCommand } from '../core/redis.js';
export { RedisUnavailableError } from './breaker.js';
export type { HeaderStyle } from './headers.js';
export { ipKey } from './ip.js';
export { type RateLimitInfo, type RateLimitPolicyInfo, rateLimitOf } from './locals.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export type {
  Decision,
  LimitPolicy,
  LimitState,
  LimitsDecision,
  LimitsPolicy,
  MultiLimitStore,
  PenaltyPolicy,
  Policy,
  RateLimitStore,
} from './policy.js';
export {
  type LimitOptions,
  type PenaltyOptions,
  type PlanOptions,
  type RateLimitMiddleware,
  type RateLimitOptions,
  type RateLimitStats,
  rateLimit,
} from './rate-limit.js';
export { RedisStore, type RedisStoreOptions } from './redis-store.js';
