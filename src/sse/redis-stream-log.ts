import { integerOption, readOptions } from '../core/options';
import { type RedisClientLike, type RedisCommander, redisCommander } from '../core/redis';
import { parseDuration } from '../core/units';
import type { LoggedEvent, ReplayLog, ReplayResult } from './replay-log';

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
}

const STREAM_ID = /^(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})$/;

/**
 * A replay log in a Redis Stream, shared by every process that uses the
 * same key: `XADD … MAXLEN n` to append (the stream id is the SSE event id),
 * `XRANGE (id + COUNT` to replay, and one blocking `XREAD` loop per process
 * on its own connection to deliver events appended anywhere, in stream order.
 * A cursor before the stream's first entry once trimming has dropped entries,
 * or beyond the last id the stream issued, is reported as `reset` (Redis ≥ 6.2).
 *
 * @example
 * const channel = createChannel({ replay: new RedisStreamLog({ client: redis, key: 'sse:orders' }) });
 */
export class RedisStreamLog implements ReplayLog {
  private readonly redis: RedisCommander;
  private readonly key: string;
  private readonly maxLength: number;
  private readonly block: number;
  private readonly tails = new Set<TailLoop>();
  private closed = false;

  constructor(options: RedisStreamLogOptions) {
    const o = readOptions(options, 'RedisStreamLog', ['client', 'key', 'maxLength', 'block']);
    this.redis = redisCommander(o.client, 'client');
    if (typeof o.key !== 'string' || o.key === '')
      throw new TypeError('option key must be a non-empty string');
    this.key = o.key;
    this.maxLength = integerOption(o.maxLength, 'maxLength', 10_000, 1);
    this.block = parseDuration(o.block ?? '5s', 'block');
  }

  async append(entry: { event?: string; data: string }): Promise<LoggedEvent> {
    const fields =
      entry.event === undefined ? ['data', entry.data] : ['event', entry.event, 'data', entry.data];
    // One entry more than the window: the oldest kept entry marks where the window starts, so a
    // client whose last event is exactly the newest dropped one still resumes without a reset.
    const id = await this.redis.send([
      'XADD',
      this.key,
      'MAXLEN',
      this.maxLength + 1,
      '*',
      ...fields,
    ]);
    if (typeof id !== 'string') throw new Error(`XADD on ${this.key} answered ${String(id)}`);
    return entry.event === undefined
      ? { id, data: entry.data }
      : { id, event: entry.event, data: entry.data };
  }

  async after(id: string, limit: number): Promise<ReplayResult> {
    if (!this.isValidId(id)) return { events: [], reset: true };
    const reply = await this.redis.send(['XRANGE', this.key, `(${id}`, '+', 'COUNT', limit]);
    const events = parseEntries(reply);
    // Read after the range: trimming that happened before XRANGE shows here, later trimming cannot hurt.
    const info = await this.streamInfo();
    const lost =
      info.trimmed && info.firstEntry !== undefined && this.compare(id, info.firstEntry) < 0;
    const unknown = this.compare(id, info.lastGenerated) > 0;
    return lost || unknown ? { events: [], reset: true } : { events, reset: false };
  }

  async tail(
    listener: (event: LoggedEvent) => void,
    onError: (error: unknown) => void,
  ): Promise<() => void> {
    const { lastGenerated } = await this.streamInfo();
    const connection = await this.redis.duplicate();
    const clientId = String(await connection.send(['CLIENT', 'ID']));
    const loop: TailLoop = { stopped: false, connection, clientId };
    this.tails.add(loop);
    const tails = this.tails;
    const key = this.key;
    const block = this.block;
    void (async function readForever() {
      let cursor = lastGenerated;
      try {
        while (!loop.stopped) {
          const reply = await connection.send(['XREAD', 'BLOCK', block, 'STREAMS', key, cursor]);
          if (loop.stopped) break;
          for (const event of parseXread(reply)) {
            cursor = event.id;
            listener(event);
          }
        }
      } catch (error) {
        if (!loop.stopped) onError(error);
      } finally {
        tails.delete(loop);
        if (!loop.stopped) await connection.close().catch(() => undefined);
      }
    })();
    const stopLoop = (): Promise<void> => this.stop(loop);
    return function stopTail() {
      void stopLoop();
    };
  }

  isValidId(id: string): boolean {
    return STREAM_ID.test(id);
  }

  compare(a: string, b: string): number {
    const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
    const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
    if (am !== bm) return am < bm ? -1 : 1;
    return as === bs ? 0 : as < bs ? -1 : 1;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.tails].map((loop) => this.stop(loop)));
    this.tails.clear();
  }

  /** Ends a tail: wakes its blocked XREAD (CLIENT UNBLOCK) so its connection closes at once. */
  private async stop(loop: TailLoop): Promise<void> {
    if (loop.stopped) return;
    loop.stopped = true;
    await this.redis.send(['CLIENT', 'UNBLOCK', loop.clientId]).catch(() => undefined);
    await loop.connection.close().catch(() => undefined);
  }

  /**
   * The stream's last generated id, its first entry's id, and whether
   * trimming ever dropped an entry (`entries-added` > `length`). Trimming
   * drops from the head only, so a cursor before the first entry, once
   * something was trimmed, may have lost events.
   */
  private async streamInfo(): Promise<{
    lastGenerated: string;
    firstEntry: string | undefined;
    trimmed: boolean;
  }> {
    let reply: unknown;
    try {
      reply = await this.redis.send(['XINFO', 'STREAM', this.key]);
    } catch (error) {
      if (/no such key/i.test(String((error as Error).message)))
        return { lastGenerated: '0-0', firstEntry: undefined, trimmed: false };
      throw error;
    }
    const info = pairs(reply);
    const lastGenerated =
      typeof info['last-generated-id'] === 'string' ? info['last-generated-id'] : '0-0';
    const first = info['first-entry'];
    const firstEntry = Array.isArray(first) && typeof first[0] === 'string' ? first[0] : undefined;
    const trimmed = Number(info['entries-added'] ?? 0) > Number(info.length ?? 0);
    return { lastGenerated, firstEntry, trimmed };
  }
}

interface TailLoop {
  stopped: boolean;
  connection: RedisCommander;
  /** The tail connection's CLIENT ID, to unblock it. */
  clientId: string;
}

/** A flat `[k1, v1, k2, v2]` reply (RESP2) or a map (RESP3) as an object. */
function pairs(reply: unknown): Record<string, unknown> {
  if (reply instanceof Map) return Object.fromEntries(reply as Map<string, unknown>);
  const out: Record<string, unknown> = {};
  if (Array.isArray(reply))
    for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = reply[i + 1];
  else if (typeof reply === 'object' && reply !== null) return reply as Record<string, unknown>;
  return out;
}

/** `[[id, [field, value, …]], …]` → events. */
function parseEntries(reply: unknown): LoggedEvent[] {
  if (!Array.isArray(reply)) return [];
  const events: LoggedEvent[] = [];
  for (const entry of reply) {
    if (!Array.isArray(entry)) continue;
    const [id, fields] = entry as [unknown, unknown];
    const f = pairs(fields);
    const event: LoggedEvent = { id: String(id), data: String(f.data ?? '') };
    if (f.event !== undefined) event.event = String(f.event);
    events.push(event);
  }
  return events;
}

/** `[[key, entries]]` (or null on timeout) → events. */
function parseXread(reply: unknown): LoggedEvent[] {
  if (!Array.isArray(reply)) return [];
  return reply.flatMap((stream: unknown) => (Array.isArray(stream) ? parseEntries(stream[1]) : []));
}
