import { Deadlines, RedisTimeoutError } from '../core/deadlines';
import { integerOption, readOptions } from '../core/options';
import { type RedisClientLike, type RedisCommander, redisCommander } from '../core/redis';
import { parseDuration } from '../core/units';
import type { LoggedEvent, ReplayLog, ReplayResult } from './replay-log';
import { entriesOf, fieldsOf, xreadEntries } from './stream-replies';

/**
 * Options for {@link RedisStreamLog}.
 *
 * @example
 * new RedisStreamLog({ client: new Redis(), key: 'sse:prices', maxLength: 10_000 });
 */
export interface RedisStreamLogOptions {
  /** An ioredis or node-redis client (connected). A duplicate is opened for the blocking tail. Required. */
  client: RedisClientLike;
  /** The stream's key. Required. */
  key: string;
  /** Events a reconnecting client can be replayed (exact `MAXLEN` trimming keeps one more). Default 10,000. */
  maxLength?: number;
  /** How long one blocking XREAD waits before it is issued again (ms or `'5s'`). Default `'5s'`. */
  block?: number | string;
  /**
   * A command not answered within this fails (`RedisTimeoutError`): `append()`
   * (so `publish()`) rejects, a replay fails, a tail whose XREAD is not back
   * within `block` plus this is ended with an error. Ms or `'2s'`; `0` never.
   * Default `'2s'`.
   */
  timeout?: number | string;
}

/** The largest part of a stream id: ids are two unsigned 64-bit integers. */
const MAX_PART = 2n ** 64n - 1n;
const STREAM_ID = /^(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})$/;

/**
 * A replay log in a Redis Stream, shared by every process that uses the
 * same key: `XADD … MAXLEN n` to append (the stream id is the SSE event id),
 * `XRANGE (id + COUNT` to replay, and one blocking `XREAD` loop per process
 * on its own connection to deliver events appended anywhere, in stream order.
 * A cursor the stream cannot prove continuous is reported as `reset`: one
 * before its first entry (trimmed away, or from a stream that was lost, e.g.
 * Redis restarted without persistence), or beyond the last id it issued.
 * `'0'` asks for everything the stream holds. Every command has a deadline
 * (`timeout`), so an outage is an error within a bound, never a wait.
 *
 * @example
 * const channel = createChannel({ replay: new RedisStreamLog({ client: redis, key: 'sse:orders' }) });
 */
export class RedisStreamLog implements ReplayLog {
  private readonly redis: RedisCommander;
  private readonly key: string;
  private readonly maxLength: number;
  private readonly block: number;
  private readonly timeout: number;
  private readonly deadlines: Deadlines | undefined;
  private readonly tails = new Set<TailLoop>();
  /** Where a tail that failed stopped: the next tail resumes there, so nothing acknowledged meanwhile is skipped. */
  private resumeFrom: string | undefined;
  private closed = false;

  constructor(options: RedisStreamLogOptions) {
    const o = readOptions(options, 'RedisStreamLog', [
      'client',
      'key',
      'maxLength',
      'block',
      'timeout',
    ]);
    this.redis = redisCommander(o.client, 'client');
    if (typeof o.key !== 'string' || o.key === '')
      throw new TypeError('option key must be a non-empty string');
    this.key = o.key;
    this.maxLength = integerOption(o.maxLength, 'maxLength', 10_000, 1);
    this.block = parseDuration(o.block ?? '5s', 'block');
    this.timeout = parseDuration(o.timeout ?? '2s', 'timeout');
    this.deadlines =
      this.timeout > 0
        ? new Deadlines(this.timeout, 'the RedisStreamLog was closed before redis answered')
        : undefined;
  }

  async append(entry: { event?: string; data: string }): Promise<LoggedEvent> {
    const fields =
      entry.event === undefined ? ['data', entry.data] : ['event', entry.event, 'data', entry.data];
    // One entry more than the window: the oldest kept entry marks where the window starts, so a
    // client whose last event is exactly the newest dropped one still resumes without a reset.
    const id = await this.send(['XADD', this.key, 'MAXLEN', this.maxLength + 1, '*', ...fields]);
    if (typeof id !== 'string' && !Buffer.isBuffer(id))
      throw new Error(`XADD on ${this.key} answered ${String(id)}`);
    const text = String(id);
    return entry.event === undefined
      ? { id: text, data: entry.data }
      : { id: text, event: entry.event, data: entry.data };
  }

  async after(id: string, limit: number): Promise<ReplayResult> {
    if (!this.isValidId(id)) return { events: [], reset: true };
    // `0` is before every id: everything the stream holds, a reset only if it ever dropped one.
    const zero = id === '0' || id === '0-0';
    const reply = await this.send(['XRANGE', this.key, zero ? '-' : `(${id}`, '+', 'COUNT', limit]);
    const events = entriesOf(reply);
    // Read after the range: trimming that happened before XRANGE shows here, later trimming cannot hurt.
    const info = await this.streamInfo();
    const ok = zero ? !info.dropped : this.continuous(id, info);
    return ok ? { events, reset: false } : { events: [], reset: true };
  }

  async tail(
    listener: (event: LoggedEvent) => void,
    onError: (error: unknown) => void,
  ): Promise<() => void> {
    const start = this.resumeFrom ?? (await this.streamInfo()).lastGenerated;
    this.resumeFrom = undefined;
    const loop: TailLoop = { stopped: false, connection: undefined, clientId: '' };
    const log = this;
    function fail(error: unknown): void {
      if (loop.stopped) return;
      loop.stopped = true;
      log.tails.delete(loop);
      log.resumeFrom = cursor;
      void loop.connection?.close(true).catch(() => undefined);
      onError(error);
    }
    let cursor = start;
    try {
      loop.connection = await this.race(this.redis.duplicate(fail));
      loop.clientId = String(await this.race(loop.connection.send(['CLIENT', 'ID'])));
    } catch (error) {
      loop.stopped = true;
      this.resumeFrom = start;
      void loop.connection?.close(true).catch(() => undefined);
      throw error;
    }
    this.tails.add(loop);
    const connection = loop.connection;
    const key = this.key;
    const block = this.block;
    const limit = this.timeout > 0 ? block + this.timeout : 0;
    void (async function readForever() {
      try {
        while (!loop.stopped) {
          const read = connection.send(['XREAD', 'BLOCK', block, 'STREAMS', key, cursor]);
          const reply = await (limit > 0 ? within(read, limit) : read);
          if (loop.stopped) break;
          for (const event of xreadEntries(reply, key)) {
            cursor = event.id;
            listener(event);
          }
        }
      } catch (error) {
        fail(error);
      }
    })();
    const stopLoop = (): Promise<void> => this.stop(loop);
    return function stopTail() {
      void stopLoop();
    };
  }

  isValidId(id: string): boolean {
    if (id === '0') return true;
    const m = STREAM_ID.exec(id);
    return m !== null && BigInt(m[1]!) <= MAX_PART && BigInt(m[2]!) <= MAX_PART;
  }

  compare(a: string, b: string): number {
    const [am, as] = idParts(a);
    const [bm, bs] = idParts(b);
    if (am !== bm) return am < bm ? -1 : 1;
    return as === bs ? 0 : as < bs ? -1 : 1;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.tails].map((loop) => this.stop(loop)));
    this.tails.clear();
    this.deadlines?.close();
  }

  /** Sends one command on the user's client, within the deadline. */
  private send(args: readonly (string | number)[]): Promise<unknown> {
    return this.race(this.redis.send(args));
  }

  private race<T>(work: Promise<T>): Promise<T> {
    return this.deadlines === undefined ? work : this.deadlines.race(work);
  }

  /**
   * Whether replaying strictly after `id` gives every event since it: the
   * stream issued it (not beyond its last id) and still holds what follows
   * (not before its first entry: trimmed away, or from a stream that was lost).
   */
  private continuous(id: string, info: StreamInfo): boolean {
    if (this.compare(id, info.lastGenerated) > 0) return false;
    if (info.firstEntry === undefined) return this.compare(id, info.lastGenerated) === 0;
    return this.compare(id, info.firstEntry) >= 0;
  }

  /** Ends a tail: wakes its blocked XREAD (CLIENT UNBLOCK) so its connection closes at once. */
  private async stop(loop: TailLoop): Promise<void> {
    if (loop.stopped) return;
    loop.stopped = true;
    this.tails.delete(loop);
    const connection = loop.connection!;
    await this.send(['CLIENT', 'UNBLOCK', loop.clientId]).catch(() => undefined);
    // A stalled server never answers QUIT: past the deadline, drop the socket.
    await this.race(connection.close()).catch(() => connection.close(true));
  }

  /**
   * The stream's last generated id, its first entry's id, and whether it
   * ever dropped an entry (`'0-0'`, none and no when the key does not exist).
   */
  private async streamInfo(): Promise<StreamInfo> {
    let reply: unknown;
    try {
      reply = await this.send(['XINFO', 'STREAM', this.key]);
    } catch (error) {
      if (/no such key/i.test(String((error as Error).message)))
        return { lastGenerated: '0-0', firstEntry: undefined, dropped: false };
      throw error;
    }
    const info = fieldsOf(reply);
    const last = info['last-generated-id'];
    const lastGenerated = last === undefined ? '0-0' : String(last);
    const first = info['first-entry'];
    const firstEntry =
      Array.isArray(first) && first[0] !== undefined && first[0] !== null
        ? String(first[0])
        : undefined;
    // Redis 7 records the newest id trimmed or deleted; before 7, count what was added.
    const deleted = info['max-deleted-entry-id'];
    const dropped =
      deleted === undefined
        ? Number(info['entries-added'] ?? 0) > Number(info.length ?? 0)
        : String(deleted) !== '0-0';
    return { lastGenerated, firstEntry, dropped };
  }
}

interface StreamInfo {
  lastGenerated: string;
  firstEntry: string | undefined;
  /** Whether the stream ever dropped an entry (trimming or XDEL). */
  dropped: boolean;
}

interface TailLoop {
  stopped: boolean;
  connection: RedisCommander | undefined;
  /** The tail connection's CLIENT ID, to unblock it. */
  clientId: string;
}

function idParts(id: string): [bigint, bigint] {
  if (id === '0') return [0n, 0n];
  const dash = id.indexOf('-');
  return [BigInt(id.slice(0, dash)), BigInt(id.slice(dash + 1))];
}

/** `work`, or a RedisTimeoutError after `ms` (a stalled server never answers a blocking read). */
function within<T>(work: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>(function raceTimer(resolve, reject) {
    const timer = setTimeout(function stalled() {
      reject(new RedisTimeoutError(ms));
    }, ms);
    timer.unref();
    work.then(
      function answered(value) {
        clearTimeout(timer);
        resolve(value);
      },
      function failed(error: unknown) {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
