import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../core/errors';
import {
  CHANNELS,
  publisher,
  type RateLimitDecisionMessage,
  type RateLimitStoreErrorMessage,
} from '../core/instrument';
import { onResponseDone } from '../core/lifecycle';
import { ensureLocals, LOCALS } from '../core/locals';
import { callSafely, type Logger, loggerOption } from '../core/logger';
import {
  enumOption,
  functionOption,
  integerOption,
  numberOption,
  readOptions,
} from '../core/options';
import type { NextFunction, RequestHandler } from '../core/types';
import { parseDuration, show } from '../core/units';
import { AddressReader } from './address';
import { BlockedKeys } from './blocked-keys';
import {
  HeaderRecord,
  type HeaderShape,
  type HeaderStyle,
  headerShape,
  seconds,
  writePolicyHeaders,
  writeRateLimitHeaders,
  writeResponseHeaders,
} from './headers';
import { ipKey } from './ip';
import type { RateLimitInfo } from './locals';
import { MemoryStore } from './memory-store';
import type { Decision, PenaltyPolicy, Policy, RateLimitStore } from './policy';
import { RedisStore, redisStoreClient } from './redis-store';

/**
 * The penalty box option of {@link rateLimit}.
 *
 * @example
 * const penalty: PenaltyOptions = { after: 3, duration: '60s', escalate: 2, max: '1h', remember: 10_000 };
 */
export interface PenaltyOptions {
  /** Consecutive rejections that put a key in the box. Required, >= 1. */
  after: number;
  /** How long the first block lasts (`'60s'` or ms). Required. */
  duration: number | string;
  /** Each further block of the same key lasts this many times longer. Default `1`. */
  escalate?: number;
  /** The longest block (`'1h'` or ms). Default `'24h'`. */
  max?: number | string;
  /**
   * Attack mode: how many blocked keys this process remembers, to reject
   * them without asking the store until their block ends (a flood from
   * blocked clients costs no Redis traffic). `0` turns it off. Not used with
   * a `MemoryStore` (it is in process already). Default `10_000`.
   */
  remember?: number;
}

/**
 * Options for {@link rateLimit}.
 *
 * @example
 * const options: RateLimitOptions = { rate: 10, interval: '1s', burst: 30, headers: 'draft-6' };
 */
export interface RateLimitOptions {
  /** Tokens added per `interval`. Default `10`. */
  rate?: number;
  /** The period `rate` refers to (`'1s'`, `'1m'`, ms). Default `'1s'`. */
  interval?: number | string;
  /** Bucket capacity: a fresh key admits exactly `burst` unit-cost requests at once. Default `rate`. */
  burst?: number;
  /** What a request costs: a number or a function of the request. Default `1`. */
  cost?: number | ((req: IncomingMessage) => number);
  /** The client key. Default: `req.ip` (Express) or the socket address, IPv6 grouped by `ipv6Subnet`. */
  key?: (req: IncomingMessage) => string;
  /** Prefix length IPv6 clients are grouped by. Default `56`. */
  ipv6Subnet?: number;
  /** Where buckets live. Default: a new `MemoryStore()`. */
  store?: RateLimitStore;
  /** Put keys that keep hitting the limit in a penalty box. Default: none. */
  penalty?: PenaltyOptions;
  /** Which headers to send. Default `'draft-10'`. */
  headers?: HeaderStyle;
  /** The quota policy's name in the headers, and a namespace for keys in the store. Default `'default'`. */
  name?: string;
  /** Requests for which this returns true are not counted at all. */
  skip?: (req: IncomingMessage) => boolean;
  /** Evaluated when the response has finished: true gives the request's cost back (e.g. do not count 2xx). */
  refund?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Answers a rejected request instead of `next(HttpError 429)`. */
  handler?: (
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
    info: RateLimitInfo,
  ) => unknown;
  /** What to do when the store fails and there is no `fallback`: `'deny'` (503) or `'allow'`. Default `'deny'`. */
  onStoreError?: 'deny' | 'allow';
  /** A store consulted while the main store fails (typically a `MemoryStore`). */
  fallback?: RateLimitStore;
  /** Where store failures and callback errors are reported. Default: `console.warn`. */
  logger?: Logger;
}

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

interface Config {
  readonly policy: Policy;
  readonly cost: number | ((req: IncomingMessage) => number);
  readonly key: ((req: IncomingMessage) => string) | undefined;
  readonly ipv6Subnet: number;
  readonly store: RateLimitStore;
  readonly fallback: RateLimitStore | undefined;
  readonly shape: HeaderShape;
  readonly name: string;
  readonly namespace: string;
  readonly skip: ((req: IncomingMessage) => boolean) | undefined;
  /** Blocked keys remembered in process (attack mode); 0 = none. */
  readonly remember: number;
  readonly refund: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
  readonly handler: RateLimitOptions['handler'];
  readonly onStoreError: 'deny' | 'allow';
  readonly logger: Logger;
}

const KNOWN = [
  'rate',
  'interval',
  'burst',
  'cost',
  'key',
  'ipv6Subnet',
  'store',
  'penalty',
  'headers',
  'name',
  'skip',
  'refund',
  'handler',
  'onStoreError',
  'fallback',
  'logger',
] as const;

const publishDecision = publisher<RateLimitDecisionMessage>(CHANNELS.rateLimitDecision);
const publishStoreError = publisher<RateLimitStoreErrorMessage>(CHANNELS.rateLimitStoreError);

type AppLike = { get?: (name: string) => unknown };

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
  const config = readConfig(options);
  claimStore(config.store, config);
  if (config.fallback !== undefined && config.fallback !== config.store)
    claimStore(config.fallback, config);
  const stats: RateLimitStats = {
    admitted: 0,
    rejected: 0,
    blocked: 0,
    storeErrors: 0,
    fallbackDecisions: 0,
  };
  let proxyChecked = false;
  let trustChecked = false;
  let storeDown = false;
  let doubleWarned = false;
  // The last address and its key: consecutive requests from one client (or a
  // keep-alive connection) skip the IPv6 parsing.
  let lastAddress = '';
  let lastKey = '';
  const addresses = new AddressReader();
  const { policy, store, fallback, shape, logger, namespace } = config;
  const blockedKeys = config.remember > 0 ? new BlockedKeys(config.remember) : undefined;

  function keyOf(req: IncomingMessage): string {
    if (config.key !== undefined) return config.key(req);
    // `req.headers` read once: on Express each request has a hidden class of
    // its own, so every property read on it is an uncached lookup.
    const forwarded = req.headers['x-forwarded-for'] !== undefined;
    const address = addresses.read(req, forwarded);
    if (!trustChecked) checkTrust(req);
    if (forwarded && !proxyChecked) checkProxy(req);
    if (address === undefined) return 'unknown';
    if (address !== lastAddress) {
      lastKey = ipKey(address, config.ipv6Subnet);
      lastAddress = address;
    }
    return lastKey;
  }

  /**
   * Once per limiter, on its first request: `app.set('trust proxy', true)`
   * makes `req.ip` the left-most `X-Forwarded-For` entry, which any client
   * writes itself, so every request can claim a fresh key.
   */
  function checkTrust(req: IncomingMessage): void {
    trustChecked = true;
    const app = (req as IncomingMessage & { app?: AppLike }).app;
    if (app === undefined || typeof app.get !== 'function' || app.get('trust proxy') !== true)
      return;
    callSafely(logger, 'rateLimit', 'logger', function warnTrustAll() {
      logger.warn(
        "rateLimit: Express's 'trust proxy' is true, so req.ip is whatever the client puts first in X-Forwarded-For and any client can take a fresh key per request; set it to the number of proxies in front of the app (e.g. 1) or their addresses",
      );
    });
  }

  /** A request reaching this limiter a second time (the limiter mounted twice): warned once. */
  function warnDoubleCount(): void {
    doubleWarned = true;
    callSafely(logger, 'rateLimit', 'logger', function warnTwice() {
      logger.warn(
        `rateLimit: the limiter '${config.name}' was reached twice by one request (mounted twice, e.g. on the app and on a router); it is counted once. Mount it once, or create a second limiter with its own name`,
      );
    });
  }

  function checkProxy(req: IncomingMessage): void {
    const app = (req as IncomingMessage & { app?: AppLike }).app;
    const trusted =
      app !== undefined && typeof app.get === 'function' && Boolean(app.get('trust proxy'));
    proxyChecked = true;
    if (trusted) return;
    callSafely(logger, 'rateLimit', 'logger', function warnOnce() {
      logger.warn(
        "rateLimit: X-Forwarded-For is present but Express's 'trust proxy' is off, so every client behind the proxy shares one key; set app.set('trust proxy', …) or pass a key function",
      );
    });
  }

  function decided(
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
    key: string,
    cost: number,
    decision: Decision,
    usedStore: RateLimitStore,
    viaFallback: boolean,
    now: number,
  ): void {
    const info: RateLimitInfo = {
      key,
      allowed: decision.allowed,
      limit: policy.burst,
      remaining: decision.remaining,
      cost,
      reset: decision.reset,
      retryAfter: decision.allowed ? 0 : Math.max(1, seconds(decision.retryAfter)),
      blockedUntil: decision.blocked > 0 ? now + decision.blocked : 0,
      fallback: viaFallback,
    };
    ensureLocals(res)[LOCALS.rateLimit] = info;
    if (decision.blocked > 0 && blockedKeys !== undefined)
      blockedKeys.add(key, now + decision.blocked, now + decision.reset, now);
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
        fallback: viaFallback,
      });
    if (decision.allowed) {
      stats.admitted++;
      if (config.refund !== undefined) watchForRefund(req, res, key, cost, usedStore);
      next();
      return;
    }
    stats.rejected++;
    if (decision.blocked > 0) stats.blocked++;
    reject(req, res, next, info, decision, now);
  }

  function reject(
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
    info: RateLimitInfo,
    decision: Decision,
    now: number,
  ): void {
    const handler = config.handler;
    if (handler !== undefined) {
      runHandler(handler, req, res, next, info);
      return;
    }
    const message =
      info.blockedUntil > 0
        ? `too many requests; blocked, retry in ${info.retryAfter} s`
        : `too many requests; retry in ${info.retryAfter} s`;
    const record = new HeaderRecord();
    writeRateLimitHeaders(record, shape, decision, now);
    next(
      new HttpError(429, 'rate.limit.exceeded', message, {
        headers: record.headers,
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
  function runHandler(
    handler: NonNullable<RateLimitOptions['handler']>,
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
    info: RateLimitInfo,
  ): void {
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

  function watchForRefund(
    req: IncomingMessage,
    res: ServerResponse,
    key: string,
    cost: number,
    usedStore: RateLimitStore,
  ): void {
    const predicate = config.refund;
    if (predicate === undefined) return;
    onResponseDone(res, function maybeRefund() {
      let give = false;
      callSafely(logger, 'rateLimit', 'refund', function askRefund() {
        give = predicate(req, res) === true;
      });
      if (!give) return;
      try {
        const result = usedStore.refund(namespace + key, cost, policy);
        if (result instanceof Promise) result.catch(refundFailed);
      } catch (error) {
        refundFailed(error);
      }
    });
  }

  function refundFailed(error: unknown): void {
    stats.storeErrors++;
    publishStoreError({ error, operation: 'refund', action: 'none' });
    callSafely(logger, 'rateLimit', 'logger', function logRefund() {
      logger.warn('rateLimit: refund failed', error);
    });
  }

  function storeFailed(
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
    key: string,
    cost: number,
    error: unknown,
  ): void {
    stats.storeErrors++;
    const action = fallback !== undefined ? 'fallback' : config.onStoreError;
    publishStoreError({ error, operation: 'consume', action });
    if (!storeDown) {
      storeDown = true;
      callSafely(logger, 'rateLimit', 'logger', function logDown() {
        logger.warn(`rateLimit: store failed; requests get '${action}' until it recovers`, error);
      });
    }
    if (fallback !== undefined) {
      stats.fallbackDecisions++;
      runStore(req, res, next, key, cost, fallback, true);
      return;
    }
    if (config.onStoreError === 'allow') {
      next();
      return;
    }
    next(
      new HttpError(503, 'rate.limit.unavailable', 'rate limit store unavailable', {
        cause: error,
        headers: { 'Retry-After': '1' },
      }),
    );
  }

  function storeRecovered(): void {
    storeDown = false;
    callSafely(logger, 'rateLimit', 'logger', function logUp() {
      logger.warn('rateLimit: store recovered');
    });
  }

  function runStore(
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
    key: string,
    cost: number,
    target: RateLimitStore,
    viaFallback: boolean,
  ): void {
    // One clock read serves the store and the headers when the store answers
    // at once; a promised decision reads the clock again when it arrives.
    const now = Date.now();
    let result: Decision | Promise<Decision>;
    try {
      result = target.consume(namespace + key, cost, policy, now);
    } catch (error) {
      if (viaFallback) next(error);
      else storeFailed(req, res, next, key, cost, error);
      return;
    }
    if (!(result instanceof Promise)) {
      if (storeDown && !viaFallback) storeRecovered();
      decided(req, res, next, key, cost, result, target, viaFallback, now);
      return;
    }
    result.then(
      function onDecision(decision: Decision) {
        if (storeDown && !viaFallback) storeRecovered();
        decided(req, res, next, key, cost, decision, target, viaFallback, Date.now());
      },
      function onStoreError(error: unknown) {
        if (viaFallback) next(error);
        else storeFailed(req, res, next, key, cost, error);
      },
    );
  }

  function rateLimitMiddleware(
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
  ): void {
    if (alreadyCounted(req, rateLimitMiddleware)) {
      if (!doubleWarned) warnDoubleCount();
      next();
      return;
    }
    if (config.skip?.(req)) {
      next();
      return;
    }
    let key: string;
    let cost: number;
    try {
      key = keyOf(req);
      cost = typeof config.cost === 'number' ? config.cost : checkCost(config.cost(req));
    } catch (error) {
      next(error);
      return;
    }
    if (cost > policy.burst) {
      costExceedsBurst(next, cost);
      return;
    }
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
        decided(req, res, next, key, cost, decision, store, false, now);
        return;
      }
    }
    runStore(req, res, next, key, cost, store, false);
  }

  /**
   * A cost above `burst` can never be admitted, however long the client
   * waits: a 429 that says so, without `Retry-After` (there is no time after
   * which a retry succeeds), decided before the store, so nothing is charged
   * and the penalty box does not count it. It always goes to `next(err)`,
   * never to `handler` (there is no rate decision to hand it).
   */
  function costExceedsBurst(next: NextFunction, cost: number): void {
    stats.rejected++;
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

  Object.defineProperty(rateLimitMiddleware, 'stats', { value: stats, enumerable: true });
  return rateLimitMiddleware as RateLimitMiddleware;
}

/**
 * The stores limiters count into, and under which names: two limiters on one
 * store (or two RedisStores on one client with one prefix) under the same
 * `name` share their buckets, so every request would be counted by both.
 * Not per-request data: one entry per store, kept only while the store lives.
 */
const claimedStores = new WeakMap<object, Set<string>>();

/** Warns (through the new limiter's logger) when its store and name are already taken. */
function claimStore(store: RateLimitStore, config: Config): void {
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

/** Whether `limiter` has counted `req` already; if not, records that it now does. */
function alreadyCounted(req: IncomingMessage, limiter: object): boolean {
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

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}

function checkCost(cost: unknown): number {
  if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0)
    throw new HttpError(500, 'rate.limit.cost.invalid', `rateLimit cost() returned ${show(cost)}`, {
      expose: false,
    });
  return cost;
}

function readConfig(options: RateLimitOptions | undefined): Config {
  const o = readOptions(options, 'rateLimit', KNOWN);
  const rate = numberOption(o.rate, 'rate', 10);
  const interval = o.interval === undefined ? 1000 : parseDuration(o.interval, 'interval');
  if (interval <= 0) throw new TypeError('option interval must be a positive duration');
  const burst = integerOption(o.burst, 'burst', Math.max(1, Math.ceil(rate)), 1);
  const emission = interval / rate;
  let cost: Config['cost'] = 1;
  if (typeof o.cost === 'function') cost = o.cost;
  else if (o.cost !== undefined) cost = numberOption(o.cost, 'cost', 1, 0, false);
  const name = o.name ?? 'default';
  if (typeof name !== 'string' || !/^[\x20-\x7e]{1,64}$/.test(name))
    throw new TypeError(`option name must be 1-64 printable ASCII characters, got ${show(name)}`);
  const store = o.store ?? new MemoryStore();
  checkStore(store, 'store');
  if (o.fallback !== undefined) checkStore(o.fallback, 'fallback');
  const style =
    o.headers === false
      ? false
      : enumOption(o.headers, 'headers', ['draft-10', 'draft-6', 'legacy'] as const, 'draft-10');
  const penalty = readPenalty(o.penalty);
  const remember =
    penalty === undefined ? 0 : integerOption(o.penalty?.remember, 'penalty.remember', 10_000, 0);
  return {
    policy: { emission, burst, penalty },
    cost,
    key: functionOption(o.key, 'key'),
    ipv6Subnet: integerOption(o.ipv6Subnet, 'ipv6Subnet', 56, 1, 128),
    store,
    fallback: o.fallback,
    shape: headerShape(style, name, burst, burst * emission),
    name,
    namespace: name === 'default' ? '' : `${name}:`,
    skip: functionOption(o.skip, 'skip'),
    remember: store instanceof MemoryStore ? 0 : remember,
    refund: functionOption(o.refund, 'refund'),
    handler: functionOption(o.handler, 'handler'),
    onStoreError: enumOption(o.onStoreError, 'onStoreError', ['deny', 'allow'] as const, 'deny'),
    logger: loggerOption(o.logger),
  };
}

function readPenalty(value: PenaltyOptions | undefined): PenaltyPolicy | undefined {
  if (value === undefined) return undefined;
  const p = readOptions(value, 'rateLimit penalty', [
    'after',
    'duration',
    'escalate',
    'max',
    'remember',
  ]);
  if (p.after === undefined || p.duration === undefined)
    throw new TypeError('option penalty needs after and duration');
  const after = integerOption(p.after, 'penalty.after', 3, 1);
  const duration = parseDuration(p.duration, 'penalty.duration');
  const escalate = numberOption(p.escalate, 'penalty.escalate', 1, 1, false);
  const max = p.max === undefined ? 86_400_000 : parseDuration(p.max, 'penalty.max');
  return { after, duration, escalate, max: Math.max(max, duration) };
}

function checkStore(store: unknown, option: string): void {
  const s = store as Partial<RateLimitStore> | null;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.consume !== 'function' ||
    typeof s.refund !== 'function'
  )
    throw new TypeError(`option ${option} must be a store with consume() and refund()`);
}
