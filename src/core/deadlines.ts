/**
 * Deadlines for Redis calls: a call not answered within `ms` fails with a
 * {@link RedisTimeoutError}, so an outage or a stalled server (SIGSTOP) is
 * an error within a bound instead of a promise that waits in a client's
 * offline queue for minutes, or forever.
 */

/**
 * What a call past its deadline rejects with. The command may still run
 * later (a client's offline queue sends it once Redis is back): treat it as
 * "outcome unknown", not "not done".
 *
 * @example
 * if (error instanceof RedisTimeoutError) retryLater();
 */
export class RedisTimeoutError extends Error {
  readonly code = 'REDIS_TIMEOUT';
  constructor(readonly timeout: number) {
    super(`redis did not answer within ${timeout} ms`);
    this.name = 'RedisTimeoutError';
  }
}

interface Pending {
  readonly at: number;
  settled: boolean;
  readonly fail: (error: Error) => void;
}

/**
 * The deadlines of one store's calls in flight, oldest first, checked by one
 * unref'ed timer while any are waiting, instead of a timer set and cleared
 * per call (this runs on every request). Every call has the same timeout, so
 * the queue is in deadline order; a call fails between `ms` and `ms + tick`
 * after it started (`tick` is a quarter of `ms`, at most 50 ms).
 *
 * The verdict measures Redis, not this process's event loop: the timer only
 * schedules the check with `setImmediate`, which runs after the loop has read
 * pending I/O. So a reply that arrived while the loop was blocked (a CPU
 * spike, a long synchronous handler) settles its call first, and is not
 * failed as a timeout merely because the timer fired before the socket was read.
 *
 * @example
 * const deadlines = new Deadlines(1000);
 * const reply = await deadlines.race(redis.send(['PING']));
 */
export class Deadlines {
  private queue: Pending[] = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The deferred check, once the timer has fired (after pending I/O is read). */
  private verdict: NodeJS.Immediate | undefined;
  private readonly tick: number;

  constructor(
    private readonly ms: number,
    private readonly closedMessage = 'closed before redis answered',
  ) {
    this.tick = Math.max(1, Math.min(50, Math.floor(ms / 4)));
  }

  race<T>(promise: Promise<T>): Promise<T> {
    const deadlines = this;
    return new Promise<T>(function race(resolve, reject) {
      const entry: Pending = { at: Date.now() + deadlines.ms, settled: false, fail: reject };
      deadlines.queue.push(entry);
      if (deadlines.timer === undefined && deadlines.verdict === undefined) deadlines.arm();
      promise.then(
        function settled(value) {
          entry.settled = true;
          resolve(value);
        },
        function failed(err: unknown) {
          entry.settled = true;
          reject(err);
        },
      );
    });
  }

  /** Fails every call still waiting and stops the timer. */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.verdict !== undefined) clearImmediate(this.verdict);
    this.verdict = undefined;
    const waiting = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    for (const entry of waiting) {
      if (entry.settled) continue;
      entry.settled = true;
      entry.fail(new Error(this.closedMessage));
    }
  }

  private arm(): void {
    const deadlines = this;
    this.timer = setTimeout(function deadlineTick() {
      deadlines.timer = undefined;
      // Timers run before the loop polls for I/O: a reply that arrived while
      // the loop was blocked is still unread here. Decide after the poll.
      deadlines.verdict = setImmediate(function afterPendingIo() {
        deadlines.verdict = undefined;
        deadlines.sweep();
      });
      deadlines.verdict.unref();
    }, this.tick);
    this.timer.unref();
  }

  private sweep(): void {
    const now = Date.now();
    const queue = this.queue;
    while (this.head < queue.length) {
      const entry = queue[this.head]!;
      if (!entry.settled) {
        if (entry.at > now) break;
        entry.settled = true;
        entry.fail(new RedisTimeoutError(this.ms));
      }
      this.head++;
    }
    if (this.head === queue.length) {
      this.queue = [];
      this.head = 0;
      return;
    }
    if (this.head > 1024) {
      this.queue = queue.slice(this.head);
      this.head = 0;
    }
    this.arm();
  }
}
