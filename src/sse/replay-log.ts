/**
 * Replay logs: where a channel keeps its recent events so a client that
 * reconnects with `Last-Event-ID` gets every event it missed. Two kinds:
 * {@link MemoryReplayLog} (one process, bounded by count and age) and
 * `RedisStreamLog` (Redis Streams, shared by every process).
 */

/** An event as a log keeps it: its id and its already-serialised fields. */
export interface LoggedEvent {
  /** The id the log gave it; monotonic within the log. */
  id: string;
  /** The SSE `event` field, if any. */
  event?: string;
  /** The `data` text (may hold newlines; framed when written). */
  data: string;
}

/** What a log answers for a cursor. */
export interface ReplayResult {
  /** Events strictly after the cursor, oldest first. */
  events: LoggedEvent[];
  /** The cursor is older than what the log still holds (events were lost to trimming), or unknown to it. */
  reset: boolean;
  /**
   * With `reset`: where the client now stands, the log's newest id (`'0'`
   * when it holds nothing). Sent as the `reset` event's id, so a client that
   * drops right after a reset resumes from there instead of getting another.
   */
  last?: string;
}

/**
 * The storage a channel replays from.
 *
 * @example
 * const log: ReplayLog = new MemoryReplayLog({ maxEvents: 1000, maxAge: '5m' });
 */
export interface ReplayLog {
  /** Stores an event and gives it its id. Rejects (never drops silently) when storage fails. */
  append(entry: { event?: string; data: string }): Promise<LoggedEvent>;
  /** Events strictly after `id`, at most `limit`, and whether the cursor fell off the log. */
  after(id: string, limit: number): Promise<ReplayResult>;
  /**
   * Calls `listener` for every event appended from now on, by any process
   * sharing the log, in log order; `onError` when the log can no longer
   * deliver. Returns the function that stops it. Resolves once listening.
   */
  tail(
    listener: (event: LoggedEvent) => void,
    onError: (error: unknown) => void,
  ): Promise<() => void>;
  /** Whether an untrusted id has this log's id syntax (ids of another log kind, or from before epochs, do not). */
  isValidId(id: string): boolean;
  /** Orders two valid ids of this log. */
  compare(a: string, b: string): number;
  close(): Promise<void>;
}

/**
 * A family of replay logs, one per topic, for `createChannels`: logs are
 * made on first use and released when their topic is dropped. The Redis
 * family shares one blocking connection between all its logs.
 *
 * @example
 * const logs: ReplayLogs = new MemoryReplayLogs({ maxEvents: 100 });
 * const log = logs.log('room:42');
 */
export interface ReplayLogs {
  /** The log of `topic` (the same one until it is released). */
  log(topic: string): ReplayLog;
  /** `topic` was dropped: its log may be forgotten. */
  release(topic: string): void;
  /** Closes every log and what they share. */
  close(): Promise<void>;
}
