import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../core/errors.js';
import {
  CHANNELS,
  publisher,
  type RateLimitDecisionMessage,
  type RateLimitStoreErrorMessage,
} from '../core/instrument.js';
import { onResponseDone } from '../core/lifecycle.js';
import { ensureLocals, LOCALS } from '../core/locals.js';
import { callSafely } from '../core/logger.js';
import type { NextFunction, RequestHandler } from '../core/types.js';
import { show } from '../core/units.js';
import { BlockedKeys } from './blocked-keys.js';
import { alreadyCounted, claimStore } from './claims.js';
import {
  HeaderRecord,
  rejectionHeaders,
  seconds,
  writePolicyHeaders,
  writeResponseHeaders,
} from './headers.js';
import { KeyReader } from './key.js';
import type { RateLimitInfo } from './locals.js';
import { type Config, checkCost, type RateLimitOptions, readConfig, readPlans } from './options.js';
import type { Decision, LimitsDecision, MultiLimitStore, RateLimitStore } from './policy.js';

export type { LimitOptions, PenaltyOptions, PlanOptions, RateLimitOptions } from './options.js';

/**
 * Counters a limiter keeps (read them from `limiter.stats`).
 *
 * @example
 * const { admitted, rejected, storeErrors }: RateLimitStats = limiter.stats;
 */
export interface RateLimitStats {
  admitted: number;
  rejected: number;
  blocked: number;
  storeErrors: number;
  fallbackDecisions: number;
}

/**
 * The middleware `rateLimit()` returns: a request handler with its counters.
 *
 * @example
 * const limiter: RateLimitMiddleware = rateLimit();
 * app.use(limiter);
 * setInterval(() => console.log(limiter.stats.rejected), 60_000).unref();
 */
export type RateLimitMiddleware = RequestHandler & { readonly stats: Readonly<RateLimitStats> };

const publishDecision = publisher<RateLimitDecisionMessage>(CHANNELS.rateLimitDecision);
const publishStoreError = publisher<RateLimitStoreErrorMessage>(CHANNELS.rateLimitStoreError);

/**
 * One request's pass through a limiter: everything a decision step needs,
 * in one object instead of a long argument list. Made once per counted
 * request; `store`/`viaFallback` change when the fallback store takes over.
 */
interface Attempt {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly next: NextFunction;
  readonly key: string;
  readonly cost: number;
  store: RateLimitStore;
  viaFallback: boolean;
}

/**
 * A token bucket per client (GCRA: one timestamp per key), `rate` tokens per
 * `interval` up to `burst`, each request costing `cost`. A rejected request
 * consumes nothing. Rejections answer 429 with `Retry-After` (an ErrorFrame
 * `RATE_LIMIT_EXCEEDED` through `next(err)`, or your `handler`); optional
 * penalty box, whose blocked keys are then rejected in process without a
 * store round trip until the block ends (`penalty.remember`); IETF
 * `RateLimit-Policy`/`RateLimit` headers. A cost above `burst` is a 429
 * `rate.limit.cost.exceeds.burst` that never charges. A request reaching the
 * same limiter twice is counted once; that, two limiters sharing a store
 * under one `name`, and `trust proxy: true` are warned about once.
 *
 * @example
 * app.use(rateLimit({ rate: 10, interval: '1s', burst: 30, penalty: { after: 3, duration: '60s' } }));
 * app.use(errorFrames());
 */
export function rateLimit(options?: RateLimitOptions): RateLimitMiddleware {
  const plans = readPlans(options);
  if (plans !== undefined) return planLimiter(plans.plan, plans.configs);
  const config = readConfig(options);
  claimStore(config.store, config);
  if (config.fallback !== undefined && config.fallback !== config.store)
    claimStore(config.fallback, config);
  const limiter = new Limiter(config);

  function rateLimitMiddleware(
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
  ): void {
    if (alreadyCounted(req, rateLimitMiddleware)) {
      limiter.countedTwice(next);
      return;
    }
    limiter.handle(req, res, next);
  }

  Object.defineProperty(rateLimitMiddleware, 'stats', { value: limiter.stats, enumerable: true });
  return rateLimitMiddleware as RateLimitMiddleware;
}

/**
 * `plans`: one {@link Limiter} per plan (validated in the factory, its own
 * buckets and policy names), sharing one set of counters; `plan(req)` picks
 * it per request. A throwing `plan` goes to `next(err)`; an answer that is no
 * plan is a 500 `rate.limit.plan.invalid` (logged once per limiter).
 */
function planLimiter(
  plan: (req: IncomingMessage) => string,
  configs: Map<string, Config>,
): RateLimitMiddleware {
  const stats = newStats();
  const limiters = new Map<string, Limiter>();
  let logger: Config['logger'] | undefined;
  for (const [name, config] of configs) {
    claimStore(config.store, config);
    if (config.fallback !== undefined && config.fallback !== config.store)
      claimStore(config.fallback, config);
    limiters.set(name, new Limiter(config, stats));
    logger ??= config.logger;
  }
  const known = [...configs.keys()].join(', ');
  let warned = false;
  const first = limiters.values().next().value as Limiter;

  function rateLimitMiddleware(
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
  ): void {
    if (alreadyCounted(req, rateLimitMiddleware)) {
      first.countedTwice(next);
      return;
    }
    let name: unknown;
    try {
      name = plan(req);
    } catch (error) {
      next(error);
      return;
    }
    const limiter = typeof name === 'string' ? limiters.get(name) : undefined;
    if (limiter === undefined) {
      const message = `rateLimit plan(req) returned ${show(name)}, which is not one of the plans (${known})`;
      if (!warned && logger !== undefined) {
        warned = true;
        const log = logger;
        callSafely(log, 'rateLimit', 'logger', function warnPlan() {
          log.warn(message);
        });
      }
      next(new HttpError(500, 'rate.limit.plan.invalid', message, { expose: false }));
      return;
    }
    limiter.handle(req, res, next);
  }

  Object.defineProperty(rateLimitMiddleware, 'stats', { value: stats, enumerable: true });
  return rateLimitMiddleware as RateLimitMiddleware;
}

function newStats(): RateLimitStats {
  return { admitted: 0, rejected: 0, blocked: 0, storeErrors: 0, fallbackDecisions: 0 };
}

/**
 * The per-limiter state and the decision steps, each taking the request's
 * {@link Attempt}: key and cost, blocked keys, the store (or its fallback),
 * headers and `res.locals`, then `next()`, the 429 or the user's `handler`.
 */
class Limiter {
  private storeDown = false;
  private doubleWarned = false;
  private readonly keys: KeyReader;
  private readonly blockedKeys: BlockedKeys | undefined;

  constructor(
    private readonly config: Config,
    readonly stats: RateLimitStats = newStats(),
  ) {
    this.keys = new KeyReader(config.key, config.ipv6Subnet, config.logger);
    this.blockedKeys = config.remember > 0 ? new BlockedKeys(config.remember) : undefined;
  }

  /** A request that already passed this limiter: warned once, not counted again. */
  countedTwice(next: NextFunction): void {
    if (!this.doubleWarned) this.warnDoubleCount();
    next();
  }

  handle(req: IncomingMessage, res: ServerResponse, next: NextFunction): void {
    const config = this.config;
    if (config.skip?.(req)) {
      next();
      return;
    }
    let key: string;
    let cost: number;
    try {
      key = this.keys.read(req);
      cost = typeof config.cost === 'number' ? config.cost : checkCost(config.cost(req));
    } catch (error) {
      next(error);
      return;
    }
    if (cost > config.policy.burst) {
      this.costExceedsBurst(next, key, cost);
      return;
    }
    const attempt: Attempt = { req, res, next, key, cost, store: config.store, viaFallback: false };
    const blockedKeys = this.blockedKeys;
    if (blockedKeys !== undefined && blockedKeys.size > 0) {
      const now = Date.now();
      const block = blockedKeys.get(key, now);
      if (block !== undefined) {
        const wait = block.until - now;
        const decision: Decision = {
          allowed: false,
          remaining: 0,
          reset: Math.max(block.resetAt - now, 0),
          retryAfter: wait,
          blocked: wait,
        };
        this.decided(attempt, decision, now);
        return;
      }
    }
    this.runStore(attempt);
  }

  /** Asks `attempt.store`; a synchronous answer is decided at once. */
  private runStore(attempt: Attempt): void {
    const limiter = this;
    // One clock read serves the store and the headers when the store answers
    // at once; a promised decision reads the clock again when it arrives.
    const now = Date.now();
    const { namespace, limits } = this.config;
    let result: Decision | Promise<Decision>;
    try {
      result =
        limits === undefined
          ? attempt.store.consume(namespace + attempt.key, attempt.cost, this.config.policy, now)
          : (attempt.store as MultiLimitStore).consumeLimits(
              namespace + attempt.key,
              attempt.cost,
              limits,
              now,
            );
    } catch (error) {
      this.storeFailed(attempt, error);
      return;
    }
    if (!(result instanceof Promise)) {
      if (this.storeDown && !attempt.viaFallback) this.storeRecovered();
      this.decided(attempt, result, now);
      return;
    }
    result.then(
      function onDecision(decision: Decision) {
        if (limiter.storeDown && !attempt.viaFallback) limiter.storeRecovered();
        limiter.decided(attempt, decision, Date.now());
      },
      function onStoreError(error: unknown) {
        limiter.storeFailed(attempt, error);
      },
    );
  }

  private decided(attempt: Attempt, decision: Decision, now: number): void {
    const { policy, shape } = this.config;
    const { key, cost, res } = attempt;
    const info: RateLimitInfo = {
      key,
      allowed: decision.allowed,
      limit: policy.burst,
      remaining: decision.remaining,
      cost,
      reset: decision.reset,
      retryAfter: decision.allowed ? 0 : Math.max(1, seconds(decision.retryAfter)),
      blockedUntil: decision.blocked > 0 ? now + decision.blocked : 0,
      fallback: attempt.viaFallback,
    };
    const parts = (decision as Partial<LimitsDecision>).limits;
    const items = shape.items;
    if (parts !== undefined && items !== undefined)
      info.limits = items.map(function limitInfo(item, i) {
        const part = parts[i] ?? decision;
        return { name: item.name, limit: item.limit, remaining: part.remaining, reset: part.reset };
      });
    ensureLocals(res)[LOCALS.rateLimit] = info;
    if (decision.blocked > 0 && this.blockedKeys !== undefined)
      this.blockedKeys.add(key, now + decision.blocked, now + decision.reset, now);
    writeResponseHeaders(res, shape, decision, now);
    if (publishDecision.active)
      publishDecision({
        key,
        allowed: decision.allowed,
        blocked: decision.blocked > 0,
        cost,
        limit: policy.burst,
        remaining: decision.remaining,
        retryAfter: decision.retryAfter,
        fallback: attempt.viaFallback,
      });
    if (decision.allowed) {
      this.stats.admitted++;
      if (this.config.refund !== undefined) this.watchForRefund(attempt);
      attempt.next();
      return;
    }
    this.stats.rejected++;
    if (decision.blocked > 0) this.stats.blocked++;
    this.reject(attempt, info, decision, now);
  }

  private reject(attempt: Attempt, info: RateLimitInfo, decision: Decision, now: number): void {
    const handler = this.config.handler;
    if (handler !== undefined) {
      this.runHandler(handler, attempt, info);
      return;
    }
    const message =
      info.blockedUntil > 0
        ? `too many requests; blocked, retry in ${info.retryAfter} s`
        : `too many requests; retry in ${info.retryAfter} s`;
    attempt.next(
      new HttpError(429, 'rate.limit.exceeded', message, {
        headers: rejectionHeaders(attempt.res, this.config.shape, decision, now),
        retryAfter: info.retryAfter,
        limit: info.limit,
      }),
    );
  }

  /**
   * Calls the user's `handler`. A throw or a rejection is logged and, unless
   * the handler already ended the response, goes to `next(err)` (once, even
   * if the handler called `next` itself): never a hung request.
   */
  private runHandler(
    handler: NonNullable<RateLimitOptions['handler']>,
    attempt: Attempt,
    info: RateLimitInfo,
  ): void {
    const { req, res, next } = attempt;
    const logger = this.config.logger;
    let nextCalled = false;
    function nextOnce(error?: unknown): void {
      if (nextCalled) return;
      nextCalled = true;
      next(error);
    }
    function handlerFailed(error: unknown): void {
      callSafely(logger, 'rateLimit', 'handler', function report() {
        throw error;
      });
      if (!res.writableEnded) nextOnce(error);
    }
    let result: unknown;
    try {
      result = handler(req, res, nextOnce, info);
    } catch (error) {
      handlerFailed(error);
      return;
    }
    if (isThenable(result)) result.then(undefined, handlerFailed);
  }

  private watchForRefund(attempt: Attempt): void {
    const limiter = this;
    const { refund: predicate, logger, namespace, policy, limits } = this.config;
    if (predicate === undefined) return;
    const { req, res, key, cost, store } = attempt;
    onResponseDone(res, function maybeRefund() {
      let give = false;
      callSafely(logger, 'rateLimit', 'refund', function askRefund() {
        give = predicate(req, res) === true;
      });
      if (!give) return;
      try {
        const result =
          limits === undefined
            ? store.refund(namespace + key, cost, policy)
            : (store as MultiLimitStore).refundLimits(namespace + key, cost, limits);
        if (result instanceof Promise) result.catch(limiter.onRefundError);
      } catch (error) {
        limiter.refundFailed(error);
      }
    });
  }

  /** One handler for every failed refund (no closure per refund). */
  private readonly onRefundError = (error: unknown): void => {
    this.refundFailed(error);
  };

  private refundFailed(error: unknown): void {
    this.stats.storeErrors++;
    publishStoreError({ error, operation: 'refund', action: 'none' });
    const logger = this.config.logger;
    callSafely(logger, 'rateLimit', 'logger', function logRefund() {
      logger.warn('rateLimit: refund failed', error);
    });
  }

  /** The main store failed: the fallback store, `'allow'` or a 503. A failing fallback is `next(err)`. */
  private storeFailed(attempt: Attempt, error: unknown): void {
    if (attempt.viaFallback) {
      attempt.next(error);
      return;
    }
    const { fallback, onStoreError, logger } = this.config;
    this.stats.storeErrors++;
    const action = fallback !== undefined ? 'fallback' : onStoreError;
    publishStoreError({ error, operation: 'consume', action });
    if (!this.storeDown) {
      this.storeDown = true;
      callSafely(logger, 'rateLimit', 'logger', function logDown() {
        logger.warn(`rateLimit: store failed; requests get '${action}' until it recovers`, error);
      });
    }
    if (fallback !== undefined) {
      this.stats.fallbackDecisions++;
      attempt.store = fallback;
      attempt.viaFallback = true;
      this.runStore(attempt);
      return;
    }
    if (onStoreError === 'allow') {
      attempt.next();
      return;
    }
    attempt.next(
      new HttpError(503, 'rate.limit.unavailable', 'rate limit store unavailable', {
        cause: error,
        headers: { 'Retry-After': '1' },
      }),
    );
  }

  private storeRecovered(): void {
    this.storeDown = false;
    const logger = this.config.logger;
    callSafely(logger, 'rateLimit', 'logger', function logUp() {
      logger.warn('rateLimit: store recovered');
    });
  }

  /** A request reaching this limiter a second time (the limiter mounted twice): warned once. */
  private warnDoubleCount(): void {
    this.doubleWarned = true;
    const { logger, name } = this.config;
    callSafely(logger, 'rateLimit', 'logger', function warnTwice() {
      logger.warn(
        `rateLimit: the limiter '${name}' was reached twice by one request (mounted twice, e.g. on the app and on a router); it is counted once. Mount it once, or create a second limiter with its own name`,
      );
    });
  }

  /**
   * A cost above `burst` can never be admitted, however long the client
   * waits: a 429 that says so, without `Retry-After` (there is no time after
   * which a retry succeeds), decided before the store, so nothing is charged
   * and the penalty box does not count it. It always goes to `next(err)`,
   * never to `handler` (there is no rate decision to hand it).
   */
  private costExceedsBurst(next: NextFunction, key: string, cost: number): void {
    const { policy, shape } = this.config;
    this.stats.rejected++;
    if (publishDecision.active)
      publishDecision({
        key,
        allowed: false,
        blocked: false,
        cost,
        limit: policy.burst,
        remaining: 0,
        retryAfter: Number.POSITIVE_INFINITY,
        fallback: false,
      });
    const record = new HeaderRecord();
    writePolicyHeaders(record, shape);
    next(
      new HttpError(
        429,
        'rate.limit.cost.exceeds.burst',
        `request cost ${cost} exceeds the limit of ${policy.burst}; it can never be admitted`,
        { headers: record.headers, limit: policy.burst, received: cost },
      ),
    );
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}
