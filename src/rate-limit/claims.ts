import type { IncomingMessage } from 'node:http';
import { callSafely } from '../core/logger.js';
import type { Config } from './options.js';
import type { RateLimitStore } from './policy.js';
import { RedisStore, redisStoreClient } from './redis-store.js';

/**
 * The stores limiters count into, and under which names: two limiters on one
 * store (or two RedisStores on one client with one prefix) under the same
 * `name` share their buckets, so every request would be counted by both.
 * Not per-request data: one entry per store, kept only while the store lives.
 */
const claimedStores = new WeakMap<object, Set<string>>();

/**
 * Warns (through the new limiter's logger) when its store and name are already taken.
 *
 * @example
 * claimStore(config.store, config);
 */
export function claimStore(store: RateLimitStore, config: Config): void {
  const { owner, scope } = storeScope(store);
  const names = claimedStores.get(owner) ?? new Set<string>();
  claimedStores.set(owner, names);
  const claim = `${scope}\u0000${config.namespace}`;
  if (!names.has(claim)) {
    names.add(claim);
    return;
  }
  const logger = config.logger;
  callSafely(logger, 'rateLimit', 'logger', function warnReuse() {
    logger.warn(
      `rateLimit: another limiter already counts into this store under the name '${config.name}', so both count every request into the same buckets; give each limiter its own store or its own name`,
    );
  });
}

/** What identifies a store's keyspace: the store, or a RedisStore's client and prefix. */
function storeScope(store: RateLimitStore): { owner: object; scope: string } {
  if (store instanceof RedisStore) {
    const client = redisStoreClient(store);
    if (client !== undefined) return { owner: client, scope: store.prefix };
  }
  return { owner: store, scope: '' };
}

/**
 * Where a request records the limiters that counted it: the first limiter
 * itself, an array once a second one (a global plus a route limiter) counts
 * it. A property on the request, not a `WeakSet` per limiter: a `WeakSet`
 * entry per request costs the garbage collector about 2 µs a request, the
 * property about 40 ns, and it goes with the request.
 */
const COUNTED: unique symbol = Symbol('streamguard.rateLimit.counted');

type CountedRequest = IncomingMessage & { [COUNTED]?: object | object[] };

/**
 * Whether `limiter` has counted `req` already; if not, records that it now does.
 *
 * @example
 * if (alreadyCounted(req, limiter)) return next();
 */
export function alreadyCounted(req: IncomingMessage, limiter: object): boolean {
  const marked = req as CountedRequest;
  const seen = marked[COUNTED];
  if (seen === undefined) {
    marked[COUNTED] = limiter;
    return false;
  }
  if (seen === limiter) return true;
  if (Array.isArray(seen)) {
    if (seen.includes(limiter)) return true;
    seen.push(limiter);
    return false;
  }
  marked[COUNTED] = [seen, limiter];
  return false;
}
