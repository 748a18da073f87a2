/**
 * `streamguard/rate-limit`: a token bucket per client (GCRA) with one Redis
 * round trip, a penalty box, and the IETF rate limit headers.
 *
 * @example
 * import { MemoryStore, RedisStore, rateLimit } from 'streamguard/rate-limit';
 */
import './locals';

export type { RateLimitDecisionMessage, RateLimitStoreErrorMessage } from '../core/instrument';
export type { IoRedisLike, NodeRedisLike, RedisClientLike, SendCommand } from '../core/redis';
export { RedisUnavailableError } from './breaker';
export type { HeaderStyle } from './headers';
export { ipKey } from './ip';
export { type RateLimitInfo, type RateLimitPolicyInfo, rateLimitOf } from './locals';
export { MemoryStore, type MemoryStoreOptions } from './memory-store';
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
} from './policy';
export {
  type LimitOptions,
  type PenaltyOptions,
  type PlanOptions,
  type RateLimitMiddleware,
  type RateLimitOptions,
  type RateLimitStats,
  rateLimit,
} from './rate-limit';
export { RedisStore, type RedisStoreOptions } from './redis-store';
