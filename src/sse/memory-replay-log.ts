import { randomBytes } from 'node:crypto';
import { integerOption, readOptions } from '../core/options.js';
import { parseDuration } from '../core/units.js';
import type { LoggedEvent, ReplayLog, ReplayLogs, ReplayResult } from './replay-log.js';

/**
 * Options for {@link MemoryReplayLog}.
 *
 * @example
 * new MemoryReplayLog({ maxEvents: 1000, maxAge: '5m' });
 */
export interface MemoryReplayLogOptions {
  /** Events kept at most. Default 1,000. */
  maxEvents?: number;
  /** Age past which events are dropped (ms or `'5m'`). Default `'10m'`. */
  maxAge?: number | string;
}

interface Stored extends LoggedEvent {
  seq: number;
  at: number;
}

/** `<epoch>:<seq>`: 8 base64url characters, a colon, a decimal sequence number. */
const ID = /^([A-Za-z0-9_-]{8}):(0|[1-9][0-9]{0,15})$/;

/**
 * A fresh random epoch: 8 base64url characters (48 bits).
 *
 * @example
 * newEpoch(); // 'Xk3_a9Qz'
 */
export function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

/**
 * An in-process replay log: ids are `<epoch>:<seq>` (`Xk3_a9Qz:42`), a
 * random epoch per log instance and a decimal sequence number, so an id from
 * another instance (a previous process, a topic dropped and created again)
 * is never taken for one of this log's and gets a `reset`. `'0'` asks for
 * everything the log holds. Events are kept in a ring bounded by count and
 * age. Fine for one process; for several, use `RedisStreamLog`.
 *
 * @example
 * const channel = createChannel({ replay: new MemoryReplayLog({ maxEvents: 500 }) });
 */
export class MemoryReplayLog implements ReplayLog {
  private readonly maxEvents: number;
  private readonly maxAge: number;
  /** Oldest first from `head`; slots before `head` are emptied as events are dropped. */
  private events: (Stored | undefined)[] = [];
  private readonly listeners = new Set<(event: LoggedEvent) => void>();
  private head = 0;
  private lastSeq = 0;
  /** Highest sequence number dropped by trimming (0: none). */
  private droppedThrough = 0;
  private readonly now: () => number;
  /** This instance's epoch: the part of every id before the colon. */
  readonly epoch = newEpoch();

  constructor(options?: MemoryReplayLogOptions, now: () => number = Date.now) {
    const o = readOptions(options, 'MemoryReplayLog', ['maxEvents', 'maxAge']);
    this.maxEvents = integerOption(o.maxEvents, 'maxEvents', 1000, 1);
    this.maxAge = parseDuration(o.maxAge ?? '10m', 'maxAge');
    this.now = now;
  }

  async append(entry: { event?: string; data: string }): Promise<LoggedEvent> {
    const seq = ++this.lastSeq;
    const stored: Stored = { id: `${this.epoch}:${seq}`, data: entry.data, seq, at: this.now() };
    if (entry.event !== undefined) stored.event = entry.event;
    this.events.push(stored);
    this.trim();
    const event = publicEvent(stored);
    for (const listener of this.listeners) listener(event);
    return event;
  }

  async after(id: string, limit: number): Promise<ReplayResult> {
    this.trim();
    const cursor = this.cursorOf(id);
    if (!(cursor >= this.droppedThrough && cursor <= this.lastSeq))
      return { events: [], reset: true, last: `${this.epoch}:${this.lastSeq}` };
    const events: LoggedEvent[] = [];
    for (let i = this.head; i < this.events.length && events.length < limit; i++) {
      const stored = this.events[i]!;
      if (stored.seq > cursor) events.push(publicEvent(stored));
    }
    return { events, reset: false };
  }

  async tail(listener: (event: LoggedEvent) => void): Promise<() => void> {
    this.listeners.add(listener);
    const listeners = this.listeners;
    return function stopTail() {
      listeners.delete(listener);
    };
  }

  isValidId(id: string): boolean {
    if (id === '0') return true;
    const m = ID.exec(id);
    return m !== null && Number(m[2]) <= Number.MAX_SAFE_INTEGER;
  }

  /** Orders by sequence number (`'0'` first); ids of different epochs by epoch, arbitrarily but consistently. */
  compare(a: string, b: string): number {
    const [ae, as] = splitId(a);
    const [be, bs] = splitId(b);
    if (as !== bs) return as - bs;
    return ae === be ? 0 : ae < be ? -1 : 1;
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  /** The sequence number an id stands for in this log: `NaN` when it is malformed or of another epoch. */
  private cursorOf(id: string): number {
    if (id === '0') return 0;
    if (!this.isValidId(id)) return Number.NaN;
    const [epoch, seq] = splitId(id);
    return epoch === this.epoch ? seq : Number.NaN;
  }

  /**
   * Drops events past the count or the age. A dropped event's slot is
   * emptied at once, so the log never holds more than `maxEvents` events;
   * the array is compacted once as many slots are empty as events are kept
   * (amortised O(1) per append).
   */
  private trim(): void {
    const oldest = this.now() - this.maxAge;
    const events = this.events;
    while (this.head < events.length) {
      const first = events[this.head]!;
      const live = events.length - this.head;
      if (live <= this.maxEvents && first.at >= oldest) break;
      this.droppedThrough = first.seq;
      events[this.head] = undefined;
      this.head++;
    }
    if (this.head >= 64 && this.head >= events.length - this.head) {
      this.events = events.slice(this.head);
      this.head = 0;
    }
  }
}

function publicEvent(stored: Stored): LoggedEvent {
  return stored.event === undefined
    ? { id: stored.id, data: stored.data }
    : { id: stored.id, event: stored.event, data: stored.data };
}

function splitId(id: string): [string, number] {
  const colon = id.indexOf(':');
  return colon === -1 ? ['', Number(id)] : [id.slice(0, colon), Number(id.slice(colon + 1))];
}

/**
 * One {@link MemoryReplayLog} per topic, for `createChannels`. A topic's
 * log lives as long as the topic: once the hub drops an idle topic, its
 * events are gone, and a client coming back with an id from it gets a
 * `reset` (the new log has a new epoch), never a wrong replay.
 *
 * @example
 * const rooms = createChannels({ replay: new MemoryReplayLogs({ maxEvents: 200 }), idle: '1m' });
 */
export class MemoryReplayLogs implements ReplayLogs {
  private readonly logs = new Map<string, MemoryReplayLog>();
  private readonly options: MemoryReplayLogOptions;

  constructor(options?: MemoryReplayLogOptions) {
    const o = readOptions(options, 'MemoryReplayLogs', ['maxEvents', 'maxAge']);
    // Validated once here, not on each topic's first use.
    new MemoryReplayLog(o);
    this.options = { ...o };
  }

  log(topic: string): MemoryReplayLog {
    let log = this.logs.get(topic);
    if (log === undefined) {
      log = new MemoryReplayLog(this.options);
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
    const logs = [...this.logs.values()];
    this.logs.clear();
    await Promise.all(logs.map((log) => log.close()));
  }
}
