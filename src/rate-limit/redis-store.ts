import { Deadlines, RedisTimeoutError } from '../core/deadlines.js';
import { readOptions } from '../core/options.js';
import type { RedisClientLike } from '../core/redis.js';
import { parseDuration, show } from '../core/units.js';
import { Breaker, RedisUnavailableError } from './breaker.js';
import { GCRA_LIMITS_SCRIPT, GCRA_LIMITS_SHA, GCRA_SCRIPT, GCRA_SHA } from './lua.js';
import type {
  Decision,
  LimitPolicy,
  LimitState,
  LimitsDecision,
  LimitsPolicy,
  MultiLimitStore,
  Policy,
} from './policy.js';
import { type ScriptRunner, scriptRunner } from './redis-client.js';

/**
 * Options for {@link RedisStore}.
 *
 * @example
 * const options: RedisStoreOptions = { client: new Redis(), prefix: 'api:', timeout: '500ms' };
 */
export interface RedisStoreOptions {
  /** An ioredis 5 client, a node-redis 5 client, or a `sendCommand(args)` function. Required. */
  client: RedisClientLike;
  /** Prepended to every key. Default `'streamguard:rl:'`. */
  prefix?: string;
  /** A store call not answered within this is a store error (`'1s'`, ms; `0` = never). Default `1000`. */
  timeout?: number | string;
}

/**
 * A store shared by every process: one atomic Lua round trip per request
 * (EVALSHA, falling back to EVAL when the server answers NOSCRIPT), Redis
 * server `TIME` as the clock, one hash per key expired with PEXPIRE. Works
 * with ioredis 5 and node-redis 5 clients. The client belongs to the caller:
 * `close()` does not quit it.
 *
 * @example
 * const store = new RedisStore({ client: new Redis(), prefix: 'api:' });
 * app.use(rateLimit({ rate: 10, interval: '1s', burst: 30, store }));
 */
export class RedisStore implements MultiLimitStore {
  readonly prefix: string;
  readonly timeout: number;
  private readonly runner: ScriptRunner;
  /** One timer for the deadlines of every call in flight (none with `timeout: 0`). */
  private readonly deadlines: Deadlines | undefined;
  /**
   * Redis server time minus this process's `Date.now()`, learnt from the
   * replies (each carries the server's clock); `undefined` until the first
   * prompt reply. It turns a call's local deadline into server time.
   */
  private offset: number | undefined;
  /** Fails calls at once after a timeout, until a PING answers (none with `timeout: 0`). */
  private readonly breaker: Breaker | undefined;

  constructor(options: RedisStoreOptions) {
    const o = readOptions(options, 'RedisStore', ['client', 'prefix', 'timeout']);
    if (o.client === undefined) throw new TypeError('option client is required');
    this.runner = scriptRunner(o.client);
    if (typeof o.client === 'object' || typeof o.client === 'function')
      CLIENTS.set(this, o.client as object);
    if (o.prefix !== undefined && typeof o.prefix !== 'string')
      throw new TypeError(`option prefix must be a string, got ${show(o.prefix)}`);
    this.prefix = o.prefix ?? 'streamguard:rl:';
    this.timeout = o.timeout === undefined ? 1000 : parseDuration(o.timeout, 'timeout');
    this.deadlines =
      this.timeout > 0
        ? new Deadlines(this.timeout, 'the RedisStore was closed before redis answered')
        : undefined;
    const deadlines = this.deadlines;
    const runner = this.runner;
    this.breaker =
      deadlines === undefined
        ? undefined
        : new Breaker(this.timeout, function probe() {
            return deadlines.race(runner.ping());
          });
  }

  /**
   * Takes `cost` from the key's bucket. The call carries its deadline (in
   * Redis server time) into the script: when Redis runs it only after the
   * caller gave up (a stalled server resuming its queue), it changes nothing.
   */
  consume(key: string, cost: number, policy: Policy): Promise<Decision> {
    const store = this;
    const sent = Date.now();
    const offset = this.offset;
    const deadline =
      this.deadlines === undefined || offset === undefined ? 0 : sent + this.timeout + offset;
    const args = ['c', String(cost), ...policyArgs(policy), String(Math.ceil(deadline))];
    return this.run(GCRA_SHA, GCRA_SCRIPT, key, args).then(function decide(reply: unknown) {
      return store.decide(reply, sent);
    });
  }

  refund(key: string, cost: number, policy: Policy): Promise<void> {
    const args = ['r', String(cost), ...policyArgs(policy), '0'];
    return this.run(GCRA_SHA, GCRA_SCRIPT, key, args).then(nothing);
  }

  /**
   * Several limits on one key in ONE script call (one round trip): admitted
   * only when every limit admits, then charged to all. The limits are fields
   * of one hash, so a decision touches a single key (one hash slot).
   */
  consumeLimits(key: string, cost: number, policy: LimitsPolicy): Promise<LimitsDecision> {
    const store = this;
    const sent = Date.now();
    const offset = this.offset;
    const deadline =
      this.deadlines === undefined || offset === undefined ? 0 : sent + this.timeout + offset;
    const args = limitsArgs('c', cost, policy, deadline);
    return this.run(GCRA_LIMITS_SHA, GCRA_LIMITS_SCRIPT, key, args).then(function decideLimits(
      reply: unknown,
    ) {
      const decision = store.decide(reply, sent);
      return { ...decision, limits: toLimitStates(reply, policy.limits.length) };
    });
  }

  refundLimits(key: string, cost: number, policy: LimitsPolicy): Promise<void> {
    return this.run(
      GCRA_LIMITS_SHA,
      GCRA_LIMITS_SCRIPT,
      key,
      limitsArgs('r', cost, policy, 0),
    ).then(nothing);
  }

  /**
   * Fails the calls still waiting for Redis and stops their deadline timer.
   * The client is the caller's: it is not quit.
   */
  close(): void {
    this.deadlines?.close();
    this.breaker?.reset();
  }

  /** Learns the clock offset from a prompt reply, and reads the decision. */
  private decide(reply: unknown, sent: number): Decision {
    const decision = toDecision(reply);
    const server = Number((reply as unknown[])[5]);
    const received = Date.now();
    // Only a prompt reply dates the server's clock well: it read TIME
    // somewhere between sending and receiving.
    if (Number.isFinite(server) && received - sent <= this.timeout / 4 + 1)
      this.offset = server - (sent + received) / 2;
    if (Number((reply as unknown[])[0]) === -1) throw new RedisTimeoutError(this.timeout);
    return decision;
  }

  private run(sha: string, script: string, key: string, args: string[]): Promise<unknown> {
    if (this.breaker !== undefined && !this.breaker.allows())
      return Promise.reject(new RedisUnavailableError());
    const full = this.prefix + key;
    const runner = this.runner;
    const call = runner.evalSha(sha, full, args).catch(function retryWithEval(err: unknown) {
      if (isNoScript(err)) return runner.eval(script, full, args);
      throw err;
    });
    const deadlines = this.deadlines;
    const breaker = this.breaker;
    if (deadlines === undefined || breaker === undefined) return call;
    const started = Date.now();
    return deadlines.race(call).then(
      function answered(reply: unknown) {
        breaker.succeeded();
        return reply;
      },
      function failed(error: unknown) {
        breaker.failed(error, started);
        throw error;
      },
    );
  }
}

function nothing(): void {}

/** The client each store was made with (rateLimit tells stores sharing a keyspace apart by it). */
const CLIENTS = new WeakMap<RedisStore, object>();

/**
 * The client `store` was made with, so `rateLimit()` can warn when two
 * stores on one client use the same prefix. Internal to the folder.
 *
 * @example
 * const sameKeyspace = redisStoreClient(a) === redisStoreClient(b) && a.prefix === b.prefix;
 */
export function redisStoreClient(store: RedisStore): object | undefined {
  return CLIENTS.get(store);
}

const POLICY_ARGS = new WeakMap<Policy, readonly string[]>();

/** The script arguments a policy contributes, rendered once per policy. */
function policyArgs(policy: Policy): readonly string[] {
  let args = POLICY_ARGS.get(policy);
  if (args === undefined) {
    const p = policy.penalty;
    args = [
      String(policy.emission),
      String(policy.burst),
      p === undefined ? '0' : String(p.after),
      p === undefined ? '0' : String(p.duration),
      p === undefined ? '1' : String(p.escalate),
      p === undefined ? '0' : String(p.max),
    ];
    POLICY_ARGS.set(policy, args);
  }
  return args;
}

/** A several-limits policy's script arguments, rendered once per policy. */
interface LimitsArgs {
  readonly penalty: readonly string[];
  readonly limits: readonly string[];
}

const LIMITS_ARGS = new WeakMap<LimitsPolicy, LimitsArgs>();

/** The script arguments of a several-limits call: op, cost, penalty (4), deadline, n, T and burst of each. */
function limitsArgs(op: string, cost: number, policy: LimitsPolicy, deadline: number): string[] {
  let fixed = LIMITS_ARGS.get(policy);
  if (fixed === undefined) {
    const p = policy.penalty;
    const limits: string[] = [String(policy.limits.length)];
    for (const limit of policy.limits as LimitPolicy[])
      limits.push(String(limit.emission), String(limit.burst));
    fixed = {
      penalty: [
        p === undefined ? '0' : String(p.after),
        p === undefined ? '0' : String(p.duration),
        p === undefined ? '1' : String(p.escalate),
        p === undefined ? '0' : String(p.max),
      ],
      limits,
    };
    LIMITS_ARGS.set(policy, fixed);
  }
  return [op, String(cost), ...fixed.penalty, String(Math.ceil(deadline)), ...fixed.limits];
}

function toLimitStates(reply: unknown, n: number): LimitState[] {
  const values = reply as unknown[];
  const parts: LimitState[] = new Array(n);
  for (let i = 0; i < n; i++)
    parts[i] = { remaining: Number(values[6 + 2 * i]), reset: Number(values[7 + 2 * i]) };
  return parts;
}

function isNoScript(err: unknown): boolean {
  const message = err instanceof Error ? err.message : String(err);
  return message.includes('NOSCRIPT');
}

function toDecision(reply: unknown): Decision {
  if (!Array.isArray(reply) || reply.length < 5)
    throw new Error(`unexpected reply from the rate limit script: ${show(reply)}`);
  return {
    allowed: Number(reply[0]) === 1,
    remaining: Number(reply[1]),
    reset: Number(reply[2]),
    retryAfter: Number(reply[3]),
    blocked: Number(reply[4]),
  };
}
