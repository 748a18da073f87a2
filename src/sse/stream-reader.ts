import { RedisTimeoutError } from '../core/deadlines.js';
import type { RedisCommander } from '../core/redis.js';
import { type StreamEntry, xreadStreams } from './stream-replies.js';

/**
 * One blocking `XREAD` loop on one connection of its own, multiplexing every
 * stream key that has a reader in this process: `XREAD BLOCK … STREAMS k1 …
 * kn c1 … cn`. When the set of keys grows while a read is blocked, the read
 * is woken (`CLIENT UNBLOCK` sent on the user's connection) and issued again
 * with the new set; a key whose last reader left is dropped at the next
 * read. Each key keeps its own cursor, so nothing appended after a reader
 * started is missed, however late the read that includes it is issued.
 * A failure (connection lost, a read not back within `block + timeout`)
 * ends every reader with the error and the cursor it had reached, and closes
 * the connection; the next reader opens a new one.
 */

/**
 * What a reader of one key is told.
 *
 * @example
 * const reader: KeyReader = { onEntries: (entries) => deliver(entries), onError: (error, cursor) => retryFrom(cursor) };
 */
export interface KeyReader {
  /** Entries after the cursor, in stream order; may return a promise the loop waits for (keeps order). */
  onEntries(entries: StreamEntry[]): void | Promise<void>;
  /** The loop failed; `cursor` is the last id delivered for this key (where to resume). */
  onError(error: unknown, cursor: string): void;
}

interface KeyState {
  cursor: string;
  readers: Set<KeyReader>;
}

interface Loop {
  /** Resolves once the connection is open and its CLIENT ID known. */
  ready: Promise<void>;
  connection: RedisCommander | undefined;
  clientId: string;
  stopped: boolean;
  /** The key-set version the read in flight was issued with (-1: none in flight). */
  readVersion: number;
}

/** Entries read per key per XREAD: a backlog is read in pages, every key getting its turn. */
const COUNT = 500;

/**
 * A multiplexed blocking reader over Redis Streams (see the module comment).
 *
 * @example
 * const reader = new StreamReader(redis, { block: 5000, timeout: 2000, race: (p) => p });
 * const stop = await reader.add('sse:a', '0-0', { onEntries: console.log, onError: console.error });
 */
export class StreamReader {
  private readonly keys = new Map<string, KeyState>();
  private loop: Loop | undefined;
  /** Bumped when a key is added: a read issued with an older version is woken and issued again. */
  private version = 0;
  private unblocking = false;
  private closed = false;
  private readonly block: number;
  private readonly timeout: number;
  private readonly race: <T>(work: Promise<T>) => Promise<T>;

  constructor(
    private readonly redis: RedisCommander,
    options: {
      block: number;
      timeout: number;
      race: <T>(work: Promise<T>) => Promise<T>;
    },
  ) {
    this.block = options.block;
    this.timeout = options.timeout;
    this.race = options.race;
  }

  /** Keys read now. */
  get size(): number {
    return this.keys.size;
  }

  /** Whether a connection is open (or opening). */
  get connected(): boolean {
    return this.loop !== undefined;
  }

  /**
   * Reads `key` from `cursor` (a bare stream id; ignored when the key is
   * already read, the reader then gets what follows the shared cursor).
   * Resolves once the connection is open; rejects when it cannot be.
   */
  async add(key: string, cursor: string, reader: KeyReader): Promise<() => void> {
    if (this.closed) throw new Error('the stream reader is closed');
    let state = this.keys.get(key);
    if (state === undefined) {
      state = { cursor, readers: new Set() };
      this.keys.set(key, state);
      this.version++;
    }
    state.readers.add(reader);
    const loop = this.ensureLoop();
    try {
      await loop.ready;
    } catch (error) {
      this.removeReader(key, reader);
      throw error;
    }
    this.nudge();
    const self = this;
    return function stopReading() {
      self.removeReader(key, reader);
    };
  }

  /** Stops the loop and closes its connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.keys.clear();
    const loop = this.loop;
    if (loop !== undefined) await this.stopLoop(loop);
  }

  private removeReader(key: string, reader: KeyReader): void {
    const state = this.keys.get(key);
    if (state === undefined || !state.readers.delete(reader)) return;
    if (state.readers.size > 0) return;
    this.keys.delete(key);
    const loop = this.loop;
    if (this.keys.size === 0 && loop !== undefined) void this.stopLoop(loop);
  }

  private ensureLoop(): Loop {
    if (this.loop !== undefined && !this.loop.stopped) return this.loop;
    const loop: Loop = {
      ready: Promise.resolve(),
      connection: undefined,
      clientId: '',
      stopped: false,
      readVersion: -1,
    };
    const self = this;
    function connectionFailed(error: unknown): void {
      self.fail(loop, error);
    }
    loop.ready = (async function open() {
      const opening = self.redis.duplicate(connectionFailed);
      try {
        loop.connection = await self.race(opening);
        loop.clientId = String(await self.race(loop.connection.send(['CLIENT', 'ID'])));
      } catch (error) {
        loop.stopped = true;
        if (self.loop === loop) self.loop = undefined;
        // A stalled server (SIGSTOP) accepts the socket but answers the handshake late, after
        // the deadline: the connection that opens then is nobody's, so it is closed when it does.
        opening.then(
          function openedTooLate(connection) {
            void connection.close(true).catch(() => undefined);
          },
          () => undefined,
        );
        throw error;
      }
    })();
    loop.ready.then(
      function opened() {
        if (!loop.stopped) void self.run(loop);
      },
      () => undefined,
    );
    this.loop = loop;
    return loop;
  }

  private async run(loop: Loop): Promise<void> {
    const connection = loop.connection!;
    const limit = this.timeout > 0 ? this.block + this.timeout : 0;
    try {
      while (!loop.stopped && this.keys.size > 0) {
        const states = [...this.keys];
        const args: (string | number)[] = ['XREAD', 'COUNT', COUNT, 'BLOCK', this.block, 'STREAMS'];
        for (const [key] of states) args.push(key);
        for (const [, state] of states) args.push(state.cursor);
        loop.readVersion = this.version;
        const read = connection.send(args);
        const reply = await (limit > 0 ? within(read, limit) : read);
        loop.readVersion = -1;
        if (loop.stopped) break;
        for (const [key, entries] of xreadStreams(reply)) {
          const state = this.keys.get(key);
          if (state === undefined || entries.length === 0) continue;
          // A key dropped and added again while the read was out has a newer cursor: skip what it is past.
          const fresh = entries.filter((e) => compareIds(e.id, state.cursor) > 0);
          if (fresh.length === 0) continue;
          state.cursor = fresh[fresh.length - 1]!.id;
          for (const reader of [...state.readers]) await reader.onEntries(fresh);
        }
      }
    } catch (error) {
      this.fail(loop, error);
      return;
    }
    if (!loop.stopped) await this.stopLoop(loop);
  }

  /** Wakes a read that lacks a key added since it was issued. Retries while the read has not reached the server yet. */
  private nudge(): void {
    const loop = this.loop;
    if (loop === undefined || loop.stopped || this.unblocking) return;
    if (loop.readVersion === -1 || loop.readVersion >= this.version) return;
    this.unblocking = true;
    const self = this;
    this.race(this.redis.send(['CLIENT', 'UNBLOCK', loop.clientId])).then(
      function unblocked(woken) {
        self.unblocking = false;
        // 0: the read was not blocked yet (still on its way): try again shortly.
        if (Number(woken) === 0 && loop.readVersion !== -1 && loop.readVersion < self.version) {
          const retry = setTimeout(function nudgeAgain() {
            self.nudge();
          }, 5);
          retry.unref();
        }
      },
      function unblockFailed() {
        // The read's own deadline (or the connection's error) reports an outage.
        self.unblocking = false;
      },
    );
  }

  private fail(loop: Loop, error: unknown): void {
    if (loop.stopped) return;
    loop.stopped = true;
    if (this.loop === loop) this.loop = undefined;
    void loop.connection?.close(true).catch(() => undefined);
    const states = [...this.keys];
    this.keys.clear();
    for (const [, state] of states)
      for (const reader of state.readers) reader.onError(error, state.cursor);
  }

  /** Ends a loop: wakes its blocked XREAD (CLIENT UNBLOCK) and closes its connection. */
  private async stopLoop(loop: Loop): Promise<void> {
    if (loop.stopped) return;
    loop.stopped = true;
    if (this.loop === loop) this.loop = undefined;
    await loop.ready.catch(() => undefined);
    const connection = loop.connection;
    if (connection === undefined) return;
    await this.race(this.redis.send(['CLIENT', 'UNBLOCK', loop.clientId])).catch(() => undefined);
    // A stalled server never answers QUIT: past the deadline, drop the socket.
    await this.race(connection.close()).catch(() => connection.close(true));
    // Keys added while this loop was stopping get a new one.
    if (this.keys.size > 0 && !this.closed) this.ensureLoop();
  }
}

/**
 * Orders two bare stream ids (`ms-seq`).
 *
 * @example
 * compareIds('1-2', '1-10'); // -1
 */
export function compareIds(a: string, b: string): number {
  const [am, as] = idParts(a);
  const [bm, bs] = idParts(b);
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

function idParts(id: string): [bigint, bigint] {
  const dash = id.indexOf('-');
  if (dash === -1) return [BigInt(id), 0n];
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
