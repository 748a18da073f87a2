import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../core/errors.js';
import { type Logger, loggerOption } from '../core/logger.js';
import {
  enumOption,
  functionOption,
  integerOption,
  numberOption,
  readOptions,
} from '../core/options.js';
import type { NextFunction } from '../core/types.js';
import { parseDuration, show } from '../core/units.js';
import { type HeaderShape, type HeaderStyle, headerShape, limitsShape } from './headers.js';
import type { RateLimitInfo } from './locals.js';
import { MemoryStore } from './memory-store.js';
import type {
  LimitsPolicy,
  MultiLimitStore,
  PenaltyPolicy,
  Policy,
  RateLimitStore,
} from './policy.js';

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
 * One limit of a limiter that checks several at once (`limits`).
 *
 * @example
 * const perMinute: LimitOptions = { rate: 75, interval: '1m', name: 'minute' };
 */
export interface LimitOptions {
  /** Tokens added per `interval`. Required. */
  rate: number;
  /** The period `rate` refers to. Default `'1s'`. */
  interval?: number | string;
  /** This limit's capacity. Default `rate`. */
  burst?: number;
  /** Its policy name in the headers (unique in the list). Default: the interval as written (`'1m'`, or `'60000ms'`). */
  name?: string;
}

/**
 * One plan of `plans`: a single limit, or several.
 *
 * @example
 * const premium: PlanOptions = { limits: [{ rate: 50, interval: '1s' }, { rate: 5000, interval: '1h' }] };
 */
export interface PlanOptions {
  rate?: number;
  interval?: number | string;
  burst?: number;
  limits?: readonly LimitOptions[];
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
  /**
   * Several limits checked together, instead of `rate`/`interval`/`burst`:
   * a request is admitted only when every limit admits, and is then charged
   * to all of them (one atomic call; one Lua call on Redis). Each is listed,
   * named, in the headers.
   */
  limits?: readonly LimitOptions[];
  /**
   * Plans (premium vs basic): the limits of each plan by name, chosen per
   * request by `plan(req)`. Each plan is `{ rate, interval, burst }` or
   * `{ limits }`, validated here; its buckets and its policy names are its
   * own (`name.plan`, or the plan's name when `name` is not given).
   */
  plans?: Readonly<Record<string, PlanOptions>>;
  /** With `plans`: which plan a request is on. An unknown or non-string answer is a 500 `rate.limit.plan.invalid`. */
  plan?: (req: IncomingMessage) => string;
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
 * A limiter's options, validated and normalised once by {@link readConfig}.
 *
 * @example
 * const config: Config = readConfig({ rate: 5 });
 */
export interface Config {
  /** The one limit, or with `limits` the one of least `burst` (the cost bound), with the penalty. */
  readonly policy: Policy;
  /** With `limits` (two or more): every limit, decided together. */
  readonly limits: LimitsPolicy | undefined;
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

export const KNOWN = [
  'rate',
  'interval',
  'burst',
  'limits',
  'plans',
  'plan',
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

/**
 * A `cost(req)` result, checked: a finite number >= 0, or a 500 `rate.limit.cost.invalid`.
 *
 * @example
 * const cost = checkCost(options.cost(req));
 */
export function checkCost(cost: unknown): number {
  if (typeof cost !== 'number' || !Number.isFinite(cost) || cost < 0)
    throw new HttpError(500, 'rate.limit.cost.invalid', `rateLimit cost() returned ${show(cost)}`, {
      expose: false,
    });
  return cost;
}

/**
 * Validates and normalises `rateLimit()` options (a bad one is a `TypeError` naming it).
 *
 * @example
 * const config = readConfig({ rate: 10, interval: '1s', burst: 30 });
 */
export function readConfig(options: RateLimitOptions | undefined): Config {
  const o = readOptions(options, 'rateLimit', KNOWN);
  if (o.plans !== undefined || o.plan !== undefined)
    throw new TypeError('option plans is read by readPlans(), not readConfig()');
  if (o.limits !== undefined) return readLimitsConfig(o);
  return readCommon(o, readLimit(o, ''));
}

/** One limit's rate, interval and burst (`prefix` names the option: `limits[1].`). */
function readLimit(
  o: { rate?: unknown; interval?: unknown; burst?: unknown },
  prefix: string,
): { emission: number; burst: number } {
  const rate = numberOption(o.rate, `${prefix}rate`, 10);
  const interval = o.interval === undefined ? 1000 : parseDuration(o.interval, `${prefix}interval`);
  if (interval <= 0) throw new TypeError(`option ${prefix}interval must be a positive duration`);
  const burst = integerOption(o.burst, `${prefix}burst`, Math.max(1, Math.ceil(rate)), 1);
  return { emission: interval / rate, burst };
}

const NAME = /^[\x20-\x7e]{1,64}$/;

/** `limits`: each limit validated and named; one limit is the plain case. */
function readLimitsConfig(o: RateLimitOptions): Config {
  const list = o.limits as unknown;
  if (!Array.isArray(list) || list.length === 0)
    throw new TypeError(`option limits must be a non-empty array, got ${show(list)}`);
  for (const option of ['rate', 'interval', 'burst'] as const)
    if (o[option] !== undefined)
      throw new TypeError(`option ${option} cannot be given with limits (put it in each limit)`);
  const names = new Set<string>();
  const limits = list.map(function readEach(item: unknown, i: number) {
    const prefix = `limits[${i}].`;
    const l = readOptions(item as LimitOptions, `rateLimit limits[${i}]`, [
      'rate',
      'interval',
      'burst',
      'name',
    ]);
    if (l.rate === undefined) throw new TypeError(`option ${prefix}rate is required`);
    const { emission, burst } = readLimit(l, prefix);
    const name =
      l.name ?? (typeof l.interval === 'string' ? l.interval : `${l.interval ?? 1000}ms`);
    if (typeof name !== 'string' || !NAME.test(name))
      throw new TypeError(
        `option ${prefix}name must be 1-64 printable ASCII characters, got ${show(name)}`,
      );
    if (names.has(name))
      throw new TypeError(`option ${prefix}name must be unique in limits, '${name}' is used twice`);
    names.add(name);
    return { name, emission, burst };
  });
  let tightest = limits[0] as (typeof limits)[number];
  for (const limit of limits) if (limit.burst < tightest.burst) tightest = limit;
  const config = readCommon(o, tightest);
  if (limits.length === 1)
    return {
      ...config,
      shape: headerShape(
        config.shape.style,
        tightest.name,
        tightest.burst,
        tightest.burst * tightest.emission,
      ),
    };
  const store = config.store as Partial<MultiLimitStore>;
  if (typeof store.consumeLimits !== 'function' || typeof store.refundLimits !== 'function')
    throw new TypeError(
      'option store must implement consumeLimits() and refundLimits() to use limits',
    );
  if (config.fallback !== undefined) {
    const fallback = config.fallback as Partial<MultiLimitStore>;
    if (typeof fallback.consumeLimits !== 'function' || typeof fallback.refundLimits !== 'function')
      throw new TypeError(
        'option fallback must implement consumeLimits() and refundLimits() to use limits',
      );
  }
  return {
    ...config,
    limits: { limits, penalty: config.policy.penalty },
    shape: limitsShape(
      config.shape.style,
      limits.map((l) => ({ name: l.name, burst: l.burst, windowMs: l.burst * l.emission })),
    ),
  };
}

/** Everything but the limit itself. */
function readCommon(o: RateLimitOptions, limit: { emission: number; burst: number }): Config {
  const { emission, burst } = limit;
  let cost: Config['cost'] = 1;
  if (typeof o.cost === 'function') cost = o.cost;
  else if (o.cost !== undefined) cost = numberOption(o.cost, 'cost', 1, 0, false);
  const name = o.name ?? 'default';
  if (typeof name !== 'string' || !NAME.test(name))
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
    limits: undefined,
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

/**
 * `plans` and `plan`: one validated {@link Config} per plan (its own policy
 * names and key namespace), or `undefined` without plans.
 *
 * @example
 * const plans = readPlans({ plans: { basic: { rate: 5 } }, plan: () => 'basic' });
 */
export function readPlans(
  options: RateLimitOptions | undefined,
): { plan: (req: IncomingMessage) => string; configs: Map<string, Config> } | undefined {
  const o = readOptions(options, 'rateLimit', KNOWN);
  if (o.plans === undefined && o.plan === undefined) return undefined;
  const plan = functionOption(o.plan, 'plan');
  if (plan === undefined) throw new TypeError('option plan must be a function when plans is given');
  const plans = o.plans as unknown;
  if (typeof plans !== 'object' || plans === null || Object.keys(plans).length === 0)
    throw new TypeError(`option plans must be an object of plans by name, got ${show(plans)}`);
  for (const option of ['rate', 'interval', 'burst', 'limits'] as const)
    if (o[option] !== undefined)
      throw new TypeError(`option ${option} cannot be given with plans (put it in each plan)`);
  const { plans: _plans, plan: _plan, ...common } = o;
  const configs = new Map<string, Config>();
  for (const [planName, value] of Object.entries(plans as Record<string, PlanOptions>)) {
    const p = readOptions(value, `rateLimit plans.${planName}`, [
      'rate',
      'interval',
      'burst',
      'limits',
    ]);
    const name = o.name === undefined ? planName : `${o.name}.${planName}`;
    try {
      configs.set(planName, readConfig({ ...common, ...p, name }));
    } catch (error) {
      if (error instanceof TypeError) throw new TypeError(`plans.${planName}: ${error.message}`);
      throw error;
    }
  }
  return { plan, configs };
}
