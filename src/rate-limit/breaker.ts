import { RedisTimeoutError } from '../core/deadlines.js';

/**
 * What a RedisStore call fails with, at once, while Redis is known not to
 * answer: a call timed out and no probe has succeeded since.
 *
 * @example
 * if (error instanceof RedisUnavailableError) console.log('breaker open');
 */
export class RedisUnavailableError extends Error {
  readonly code = 'REDIS_UNAVAILABLE';
  constructor() {
    super('redis is not answering (a call timed out); failing fast until a probe succeeds');
    this.name = 'RedisUnavailableError';
  }
}

/**
 * A circuit breaker for one store: after a call times out, calls fail at
 * once (the rate limiter routes them to its fallback or `onStoreError`) until
 * a probe succeeds. One probe at a time, started by a call that finds the
 * breaker open and the last probe at least `interval` ms old; no timer. So a
 * stalled Redis costs one timeout, not one per request.
 *
 * @example
 * const breaker = new Breaker(1000, () => deadlines.race(redis.send(['PING'])));
 * if (!breaker.allows()) throw new RedisUnavailableError();
 */
export class Breaker {
  private open = false;
  private probing = false;
  /** When the next probe may start (epoch ms). */
  private nextProbe = 0;
  /** When the breaker last closed: a timeout of a call started before that is old news. */
  private closedAt = 0;

  constructor(
    private readonly interval: number,
    private readonly probe: () => Promise<unknown>,
  ) {}

  /** Whether a call may go to Redis now; while open, starts a probe when one is due. */
  allows(): boolean {
    if (!this.open) return true;
    if (!this.probing && Date.now() >= this.nextProbe) this.startProbe();
    return false;
  }

  /** A call answered: Redis is back. */
  succeeded(): void {
    if (this.open) this.close();
  }

  /** A call started at `startedAt` failed with `error`: a timeout opens the breaker. */
  failed(error: unknown, startedAt: number): void {
    if (this.open || !(error instanceof RedisTimeoutError) || startedAt < this.closedAt) return;
    this.open = true;
    this.nextProbe = 0;
  }

  /** Forgets the outage (the store was closed). */
  reset(): void {
    this.open = false;
    this.probing = false;
  }

  private close(): void {
    this.open = false;
    this.closedAt = Date.now();
  }

  private startProbe(): void {
    const breaker = this;
    this.probing = true;
    this.probe().then(
      function probeAnswered() {
        breaker.probing = false;
        breaker.close();
      },
      function probeFailed() {
        breaker.probing = false;
        breaker.nextProbe = Date.now() + breaker.interval;
      },
    );
  }
}
