import { Deadlines } from '../core/deadlines.js';
import { integerOption, readOptions } from '../core/options.js';
import { type RedisClientLike, type RedisCommander, redisCommander } from '../core/redis.js';
import { parseDuration } from '../core/units.js';
import { newEpoch } from './memory-replay-log.js';
import type { LoggedEvent, ReplayLog, ReplayLogs, ReplayResult } from './replay-log.js';
import { compareIds, StreamReader } from './stream-reader.js';
import { entriesOf, type StreamEntry } from './stream-replies.js';

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
/** `<epoch>:<ms>-<seq>`: the stream's epoch (base64url), a colon, the stream id. */
const EVENT_ID = /^([A-Za-z0-9_-]{1,32}):((0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19}))$/;

/**
 * Appends one entry. The stream's epoch lives in a companion key; a stream
 * or epoch key that is missing (the first append, or a stream lost: Redis
 * restarted without persistence, the key evicted or deleted) gets a new
 * epoch (the caller's fresh random candidate), so ids issued before the loss
 * can never be taken for ids of the new stream. The entry carries its epoch
 * too (field `epoch`), so a reader labels what it reads without asking.
 * KEYS: stream, epoch key. ARGV: candidate epoch, MAXLEN, then field/value pairs.
 */
const APPEND_SCRIPT = `local epoch = redis.call('GET', KEYS[2])
if (not epoch) or redis.call('EXISTS', KEYS[1]) == 0 then
  epoch = ARGV[1]
  redis.call('SET', KEYS[2], epoch)
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '*', 'epoch', epoch, unpack(ARGV, 3))
return {epoch, id}`;

/**
 * Reads, atomically, the stream's epoch, its last generated id, whether it
 * ever dropped an entry, and (COUNT > 0) the entries from START inclusive.
 * A stream written before epochs existed gets one now (the candidate).
 * KEYS: stream, epoch key. ARGV: START, COUNT, candidate epoch.
 * Returns {epoch or nil (no stream), entries, last-generated-id, dropped 0/1}.
 */
const STATE_SCRIPT = `if redis.call('EXISTS', KEYS[1]) == 0 then return {false, {}, '0-0', 0} end
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', KEYS[2], epoch)
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local f = {}
for i = 1, #info, 2 do f[info[i]] = info[i + 1] end
local dropped = 0
if f['max-deleted-entry-id'] then
  if f['max-deleted-entry-id'] ~= '0-0' then dropped = 1 end
elseif f['entries-added'] and f['length'] and f['entries-added'] > f['length'] then
  dropped = 1
end
local range = {}
if ARGV[2] ~= '0' then range = redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', ARGV[2]) end
return {epoch, range, f['last-generated-id'], dropped}`;

/**
 * Options for {@link RedisStreamLogs}: those of {@link RedisStreamLogOptions}
 * for every topic's log, with a key `prefix` instead of one `key`.
 *
 * @example
 * new RedisStreamLogs({ client: redis, prefix: 'sse:room:', maxLength: 1000 });
 */
export interface RedisStreamLogsOptions extends Omit<RedisStreamLogOptions, 'key'> {
  /** Each topic's stream key is `prefix + topic`. Default `'sse:'`. */
  prefix?: string;
}

/**
 * Internal: what {@link RedisStreamLogs} shares between the logs it makes.
 *
 * @example
 * new RedisStreamLog({ client, key: 'sse:room:1' }, { reader, deadlines });
 */
export interface SharedParts {
  reader: StreamReader;
  deadlines: Deadlines | undefined;
}

/**
 * A replay log in a Redis Stream, shared by every process that uses the
 * same key: `XADD … MAXLEN n` to append, `XRANGE` to replay, and one blocking
 * `XREAD` loop per process on its own connection to deliver events appended
 * anywhere, in stream order. Event ids are `<epoch>:<stream id>`
 * (`Jq3v_x0A:1732230000000-0`): the epoch is random, kept in a companion key
 * (`{<key>}:epoch`, the same cluster slot), and renewed whenever the stream
 * is found missing, so a cursor from a lost stream (Redis restarted without
 * persistence, even with its clock behind; restored from an older snapshot)
 * is never replayed against another stream. A cursor is replayed only when
 * the log can prove it continuous: same epoch, and its entry is still in the
 * stream (or it is the last id the stream generated); anything else is a
 * `reset`, with the stream's newest id as where the client now stands.
 * `'0'` asks for everything the stream holds. Every command has a deadline
 * (`timeout`), so an outage is an error within a bound, never a wait.
 *
 * @example
 * const channel = createChannel({ replay: new RedisStreamLog({ client: redis, key: 'sse:orders' }) });
 */
export class RedisStreamLog implements ReplayLog {
  private readonly redis: RedisCommander;
  private readonly key: string;
  private readonly epochKey: string;
  private readonly maxLength: number;
  private readonly block: number;
  private readonly timeout: number;
  private readonly deadlines: Deadlines | undefined;
  private readonly reader: StreamReader;
  /** Whether the reader (and the deadlines) are this log's own, closed with it. */
  private readonly owned: boolean;
  private readonly tails = new Set<() => void>();
  /** Each running tail's check of an epoch this process's append got back (another epoch: the stream was replaced). */
  private readonly epochWatchers = new Set<(epoch: string) => void>();
  /** Where a tail that failed stopped (`<epoch>:<id>`): the next tail resumes there, so nothing acknowledged meanwhile is skipped. */
  private resumeFrom: string | undefined;
  /** The epoch this log offers when it creates one; renewed once used, so no two incarnations share one. */
  private candidate = newEpoch();
  private closed = false;

  constructor(options: RedisStreamLogOptions, shared?: SharedParts) {
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
    this.epochKey = epochKeyOf(o.key);
    this.maxLength = integerOption(o.maxLength, 'maxLength', 10_000, 1);
    this.block = parseDuration(o.block ?? '5s', 'block');
    this.timeout = parseDuration(o.timeout ?? '2s', 'timeout');
    this.owned = shared === undefined;
    this.deadlines =
      shared !== undefined
        ? shared.deadlines
        : this.timeout > 0
          ? new Deadlines(this.timeout, 'the RedisStreamLog was closed before redis answered')
          : undefined;
    const race = <T>(work: Promise<T>): Promise<T> => this.race(work);
    this.reader =
      shared?.reader ??
      new StreamReader(this.redis, { block: this.block, timeout: this.timeout, race });
  }

  async append(entry: { event?: string; data: string }): Promise<LoggedEvent> {
    const fields =
      entry.event === undefined ? ['data', entry.data] : ['event', entry.event, 'data', entry.data];
    // One entry more than the window: the oldest kept entry marks where the window starts, so a
    // client whose last event is exactly the newest dropped one still resumes without a reset.
    const candidate = this.candidate;
    const reply = await this.send([
      'EVAL',
      APPEND_SCRIPT,
      2,
      this.key,
      this.epochKey,
      candidate,
      this.maxLength + 1,
      ...fields,
    ]);
    if (!Array.isArray(reply) || !isText(reply[0]) || !isText(reply[1]))
      throw new Error(`XADD on ${this.key} answered ${String(reply)}`);
    const epoch = String(reply[0]);
    if (epoch === candidate) this.candidate = newEpoch();
    // A new stream's ids may lie below a running tail's cursor (old ids from a clock ahead): its
    // XREAD would never show them. The epoch this append got tells the tail at once.
    for (const watch of [...this.epochWatchers]) watch(epoch);
    const id = `${epoch}:${String(reply[1])}`;
    return entry.event === undefined
      ? { id, data: entry.data }
      : { id, event: entry.event, data: entry.data };
  }

  async after(id: string, limit: number): Promise<ReplayResult> {
    // `0` is before every id: everything the stream holds, a reset only if it ever dropped one.
    if (id === '0' || id === '0-0') {
      const state = await this.state('-', limit);
      if (state.dropped) return this.reset(state);
      return { events: state.entries.map((e) => labelled(e, state.epoch!)), reset: false };
    }
    const m = EVENT_ID.exec(id);
    if (m === null || !this.isValidId(id)) return this.reset(await this.state('-', 0));
    const [, epoch, streamId] = m as unknown as [string, string, string];
    // From the cursor itself, inclusive: its entry being there proves nothing before it was lost.
    const state = await this.state(streamId, limit + 1);
    if (state.epoch !== epoch) return this.reset(state);
    const first = state.entries[0];
    const present = first !== undefined && first.id === streamId;
    if (!present && streamId !== state.lastGenerated) return this.reset(state);
    const events = (present ? state.entries.slice(1) : state.entries).slice(0, limit);
    return { events: events.map((e) => labelled(e, epoch)), reset: false };
  }

  async tail(
    listener: (event: LoggedEvent) => void,
    onError: (error: unknown) => void,
  ): Promise<() => void> {
    if (this.closed) throw new Error('the RedisStreamLog is closed');
    const state = await this.state('-', 0);
    let epoch = state.epoch;
    const resume = this.resumeFrom;
    this.resumeFrom = undefined;
    let start = state.lastGenerated;
    if (resume !== undefined) {
      const colon = resume.indexOf(':');
      // Same stream: resume where the failed tail stopped. Another epoch: the stream was lost, its successor is read whole.
      start = resume.slice(0, colon) === epoch ? resume.slice(colon + 1) : '0-0';
    }
    const log = this;
    let started = false;
    let stopped = false;
    let cursor = `${epoch ?? ''}:${start}`;
    async function onEntries(entries: StreamEntry[]): Promise<void> {
      if (stopped) return;
      for (const entry of entries) {
        // Entries written before epochs carry none: they belong to the stream's current one.
        if (entry.epoch === undefined && epoch === undefined)
          epoch = (await log.state('-', 0)).epoch;
        const entryEpoch = entry.epoch ?? epoch ?? '';
        // No stream when the tail started: its first entry tells its epoch.
        epoch ??= entryEpoch;
        if (entryEpoch !== epoch) {
          // The stream was deleted (or its epoch key) and written again while it was read: what it
          // held past the cursor may be gone unseen. Never a silent gap: the tail fails, so its
          // subscribers are told and reconnect, and their cursors (the old epoch) get a reset.
          replaced();
          return;
        }
        const event = labelled(entry, entryEpoch);
        cursor = event.id;
        if (!stopped) listener(event);
      }
    }
    function failed(error: unknown): void {
      if (stopped || !started) return;
      stopped = true;
      log.tails.delete(stopTail);
      log.epochWatchers.delete(watchEpoch);
      log.resumeFrom = cursor;
      onError(error);
    }
    function watchEpoch(appended: string): void {
      if (epoch !== undefined && appended !== epoch) replaced();
    }
    function replaced(): void {
      if (stopped || !started) return;
      log.epochWatchers.delete(watchEpoch);
      stopReading?.();
      failed(new StreamReplacedError(log.key));
    }
    let stopReading: (() => void) | undefined;
    try {
      stopReading = await this.reader.add(this.key, start, { onEntries, onError: failed });
    } catch (error) {
      this.resumeFrom = resume;
      throw error;
    }
    started = true;
    function stopTail(): void {
      if (stopped) return;
      stopped = true;
      log.tails.delete(stopTail);
      log.epochWatchers.delete(watchEpoch);
      stopReading?.();
    }
    this.tails.add(stopTail);
    this.epochWatchers.add(watchEpoch);
    return stopTail;
  }

  isValidId(id: string): boolean {
    if (id === '0' || id === '0-0') return true;
    const m = EVENT_ID.exec(id);
    return m !== null && BigInt(m[3]!) <= MAX_PART && BigInt(m[4]!) <= MAX_PART;
  }

  /** Orders by stream id (`'0'` first); equal stream ids of different epochs by epoch, arbitrarily but consistently. */
  compare(a: string, b: string): number {
    const [ae, as] = splitId(a);
    const [be, bs] = splitId(b);
    const byId = compareIds(as, bs);
    if (byId !== 0) return byId;
    return ae === be ? 0 : ae < be ? -1 : 1;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.tails]) stop();
    this.tails.clear();
    this.epochWatchers.clear();
    if (this.owned) {
      await this.reader.close();
      this.deadlines?.close();
    }
  }

  /** Sends one command on the user's client, within the deadline. */
  private send(args: readonly (string | number)[]): Promise<unknown> {
    return this.race(this.redis.send(args));
  }

  private race<T>(work: Promise<T>): Promise<T> {
    return this.deadlines === undefined ? work : this.deadlines.race(work);
  }

  private reset(state: StreamState): ReplayResult {
    const last = state.epoch === undefined ? '0' : `${state.epoch}:${state.lastGenerated}`;
    return { events: [], reset: true, last };
  }

  /** The stream's epoch, last generated id, whether it dropped entries, and up to `count` entries from `start` (inclusive). */
  private async state(start: string, count: number): Promise<StreamState> {
    const candidate = this.candidate;
    const reply = await this.send([
      'EVAL',
      STATE_SCRIPT,
      2,
      this.key,
      this.epochKey,
      start,
      count,
      candidate,
    ]);
    if (!Array.isArray(reply) || reply.length < 4)
      throw new Error(`unexpected Redis reply to the stream state of ${this.key}`);
    const epoch = isText(reply[0]) ? String(reply[0]) : undefined;
    if (epoch === candidate) this.candidate = newEpoch();
    return {
      epoch,
      entries: entriesOf(reply[1]),
      lastGenerated: String(reply[2]),
      dropped: Number(reply[3]) === 1,
    };
  }
}

/**
 * A tail's stream was replaced while it was read: the key (or its epoch key)
 * was deleted and written again, so entries past the tail's cursor may have
 * gone unseen. The tail ends with it; its subscribers reconnect and get a
 * `reset` (their cursors are of the old epoch).
 *
 * @example
 * if (error instanceof StreamReplacedError) console.warn(`stream ${error.key} was replaced`);
 */
export class StreamReplacedError extends Error {
  readonly code = 'STREAM_REPLACED';
  constructor(readonly key: string) {
    super(`the Redis stream ${key} was deleted or replaced while it was read`);
    this.name = 'StreamReplacedError';
  }
}

interface StreamState {
  /** Undefined when the stream does not exist. */
  epoch: string | undefined;
  entries: StreamEntry[];
  lastGenerated: string;
  /** Whether the stream ever dropped an entry (trimming or XDEL). */
  dropped: boolean;
}

/**
 * The companion key holding a stream's epoch, in the stream's cluster slot:
 * `<key>:epoch` when the key has a hash tag, else `{<key>}:epoch`.
 */
function epochKeyOf(key: string): string {
  const open = key.indexOf('{');
  if (open !== -1) return `${key}:epoch`;
  return key.includes('}') ? `${key}:epoch` : `{${key}}:epoch`;
}

function labelled(entry: StreamEntry, epoch: string): LoggedEvent {
  const id = `${epoch}:${entry.id}`;
  return entry.event === undefined
    ? { id, data: entry.data }
    : { id, event: entry.event, data: entry.data };
}

function splitId(id: string): [string, string] {
  if (id === '0' || id === '0-0') return ['', '0-0'];
  const colon = id.indexOf(':');
  return colon === -1 ? ['', id] : [id.slice(0, colon), id.slice(colon + 1)];
}

function isText(value: unknown): value is string | Buffer {
  return typeof value === 'string' || Buffer.isBuffer(value);
}

/**
 * One {@link RedisStreamLog} per topic (key `prefix + topic`), for
 * `createChannels`, all sharing one blocking connection: a single `XREAD`
 * loop per process multiplexes every topic that has subscribers here, woken
 * (`CLIENT UNBLOCK`) and issued again when a topic joins. Redis connections
 * per process: the client you pass, plus that one, whatever the number of
 * topics.
 *
 * @example
 * const rooms = createChannels({ replay: new RedisStreamLogs({ client: redis, prefix: 'sse:room:' }) });
 */
export class RedisStreamLogs implements ReplayLogs {
  private readonly logs = new Map<string, RedisStreamLog>();
  private readonly options: RedisStreamLogOptions;
  private readonly prefix: string;
  private readonly shared: SharedParts;
  private closed = false;

  constructor(options: RedisStreamLogsOptions) {
    const o = readOptions(options, 'RedisStreamLogs', [
      'client',
      'prefix',
      'maxLength',
      'block',
      'timeout',
    ]);
    const prefix = o.prefix ?? 'sse:';
    if (typeof prefix !== 'string') throw new TypeError('option prefix must be a string');
    this.prefix = prefix;
    const { prefix: _prefix, ...rest } = o;
    this.options = { ...rest, key: `${prefix}-` } as RedisStreamLogOptions;
    // Validates every option once, here.
    const probe = new RedisStreamLog(this.options);
    void probe.close();
    const block = parseDuration(o.block ?? '5s', 'block');
    const timeout = parseDuration(o.timeout ?? '2s', 'timeout');
    const deadlines =
      timeout > 0
        ? new Deadlines(timeout, 'the RedisStreamLogs were closed before redis answered')
        : undefined;
    const race = <T>(work: Promise<T>): Promise<T> =>
      deadlines === undefined ? work : deadlines.race(work);
    this.shared = {
      reader: new StreamReader(redisCommander(o.client, 'client'), { block, timeout, race }),
      deadlines,
    };
  }

  /** Blocking connections open now (0 or 1). */
  get connections(): number {
    return this.shared.reader.connected ? 1 : 0;
  }

  log(topic: string): RedisStreamLog {
    if (this.closed) throw new Error('the RedisStreamLogs are closed');
    let log = this.logs.get(topic);
    if (log === undefined) {
      log = new RedisStreamLog({ ...this.options, key: this.prefix + topic }, this.shared);
      this.logs.set(topic, log);
    }
    return log;
  }

  release(topic: string): void {
    const log = this.logs.get(topic);
    this.logs.delete(topic);
    void log?.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const logs = [...this.logs.values()];
    this.logs.clear();
    await Promise.all(logs.map((log) => log.close()));
    await this.shared.reader.close();
    this.shared.deadlines?.close();
  }
}
