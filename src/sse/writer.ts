import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Deferred, deferred, handledRejection, RESOLVED } from '../core/deferred.js';
import {
  CHANNELS,
  publisher,
  type SseBlockedMessage,
  type SseCloseMessage,
  type SseDropMessage,
  type SseOpenMessage,
} from '../core/instrument.js';
import { onResponseDone } from '../core/lifecycle.js';
import type { Logger } from '../core/logger.js';
import { onServerShutdown, serverOf } from '../core/shutdown-hooks.js';
import { traceId } from '../core/trace.js';
import { type CloseReason, StreamAbortError } from './abort.js';
import type { SignalFanout } from './signal-fanout.js';
import { paced } from './turn.js';

/** What a stream does with an event when the client's buffer is over budget. */
export type OverflowPolicy = 'wait' | 'drop' | 'close';

/** The validated, normalised options a writer runs with. */
export interface WriterConfig {
  readonly kind: 'sse' | 'ndjson';
  readonly maxBufferedBytes: number;
  readonly overflow: OverflowPolicy;
  /** 0: never time out. */
  readonly writeTimeout: number;
  /** 0: no heartbeat. */
  readonly heartbeat: number;
  readonly heartbeatText: string;
  readonly coalesce: boolean;
  /** The `shutdownSignal` option, fanned out: one listener per middleware. */
  readonly shutdown: SignalFanout | undefined;
  readonly logger: Logger;
}

/**
 * Counters of one stream, live.
 *
 * @example
 * console.log(stream.stats.dropped);
 */
export interface StreamStats {
  /** Events handed to the socket. */
  sent: number;
  /** Events dropped by the `drop` overflow policy. */
  dropped: number;
  /** Bytes handed to the socket (events, comments and heartbeats). */
  bytes: number;
  /** Times a write found the client's buffer full and had to wait for `'drain'`. */
  blocked: number;
  /** Heartbeat comments written. */
  heartbeats: number;
}

interface Queued {
  chunk: string;
  bytes: number;
  events: number;
  done: Deferred;
}

type Flushable = ServerResponse & { flush?: () => void };

const POLL_MS = 10;

const publishOpen = publisher<SseOpenMessage>(CHANNELS.sseOpen);
const publishClose = publisher<SseCloseMessage>(CHANNELS.sseClose);
const publishBlocked = publisher<SseBlockedMessage>(CHANNELS.sseBlocked);
const publishDrop = publisher<SseDropMessage>(CHANNELS.sseDrop);

/**
 * The write gate shared by {@link SseStream} and {@link NdjsonStream}: one
 * `res.write` per accepted chunk (or per tick with `coalesce`), a byte
 * budget with an overflow policy, `'drain'` raced against close and
 * `writeTimeout`, heartbeats when idle, and an AbortSignal that says why the
 * stream ended. Listeners, timers and the shutdown hook are removed by one
 * idempotent cleanup when the response is done.
 *
 * @example
 * // Not constructed directly: use sse() or ndjson(), then sseOf(res) / ndjsonOf(res).
 * const stream: StreamWriter = sseOf(res);
 * await stream.writeSerialized(serializeEvent({ data: 'hi' }));
 */
export class StreamWriter {
  /** Aborted when the stream closes, for any reason; `signal.reason` is a {@link StreamAbortError}. */
  readonly signal: AbortSignal;
  /** Live counters. */
  readonly stats: StreamStats = { sent: 0, dropped: 0, bytes: 0, blocked: 0, heartbeats: 0 };
  /** The request's trace id (from `traceparent` / `x-request-id`, else generated). */
  readonly traceId: string;

  protected readonly res: ServerResponse;
  protected readonly req: IncomingMessage;
  protected readonly config: WriterConfig;
  private readonly controller = new AbortController();
  private readonly openedAt = performance.now();
  private readonly queue: Queued[] = [];
  private queuedBytes = 0;
  private batchText = '';
  private batchBytes = 0;
  private batchEvents = 0;
  private batch: Deferred | undefined;
  private drain: Deferred | undefined;
  private drainTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private blockedAt = 0;
  private endTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private wroteSinceBeat = false;
  private reason: CloseReason | undefined;
  private readonly unhookShutdown: () => void;
  private leaveShutdownFanout: () => void = noopLeave;

  constructor(req: IncomingMessage, res: ServerResponse, config: WriterConfig) {
    this.req = req;
    this.res = res;
    this.config = config;
    this.signal = this.controller.signal;
    this.traceId = traceId(req);
    this.onDrain = this.onDrain.bind(this);
    this.onDrainTimeout = this.onDrainTimeout.bind(this);
    this.onEndTimeout = this.onEndTimeout.bind(this);
    this.onHeartbeat = this.onHeartbeat.bind(this);
    this.onShutdown = this.onShutdown.bind(this);
    this.countIfStillBlocked = this.countIfStillBlocked.bind(this);
    this.flushBatch = this.flushBatch.bind(this);
    onResponseDone(res, this.cleanup.bind(this));
    this.unhookShutdown = onServerShutdown(serverOf(req.socket), this.onShutdown);
    const shutdown = config.shutdown;
    if (shutdown !== undefined) {
      if (shutdown.aborted) queueMicrotask(this.onShutdown);
      else this.leaveShutdownFanout = shutdown.add(this.onShutdown);
    }
    if (config.heartbeat > 0) {
      this.heartbeatTimer = setInterval(this.onHeartbeat, config.heartbeat);
      this.heartbeatTimer.unref();
    }
    publishOpen({ kind: config.kind, traceId: this.traceId });
  }

  /** Whether the stream is closed (or closing): sends reject with an AbortError. */
  get closed(): boolean {
    return this.reason !== undefined;
  }

  /** Whether a write is waiting for this client to catch up (`'drain'`). */
  get waiting(): boolean {
    return this.drain !== undefined;
  }

  /** Bytes waiting for this client: in the response/socket buffers, in the coalescing batch and in the `wait` queue. */
  get bufferedBytes(): number {
    return this.res.writableLength + this.batchBytes + this.queuedBytes;
  }

  /**
   * Writes text that is already framed (an event serialised once by a
   * channel for many streams) through the same budget, overflow policy,
   * backpressure and deadline as `send`. `events` is how many events it
   * holds, for the counters.
   *
   * @example
   * const frame = serializeEvent({ data: 'to everyone' });
   * for (const s of streams) s.writeSerialized(frame);
   */
  writeSerialized(chunk: string, events = 1): Promise<void> {
    if (this.reason !== undefined) return handledRejection(this.signal.reason);
    if (this.res.writableEnded || this.res.destroyed) {
      this.abort(this.res.writableFinished || this.res.writableEnded ? 'closed' : 'client-closed');
      return handledRejection(this.signal.reason);
    }
    const bytes = Buffer.byteLength(chunk);
    if (this.queue.length === 0 && this.fits(bytes)) return this.accept(chunk, bytes, events);
    return this.overflow(chunk, bytes, events);
  }

  /**
   * Ends the stream gracefully: whatever was accepted is written, then the
   * response ends; the signal aborts with reason `closed`. Idempotent.
   *
   * @example
   * stream.close();
   */
  close(): void {
    this.endGracefully('closed');
  }

  /** Logs through the configured logger; a throwing logger is ignored. */
  protected report(message: string, err: unknown): void {
    try {
      this.config.logger.warn(message, err);
    } catch {
      // A logger that throws has nowhere left to report to.
    }
  }

  private fits(bytes: number): boolean {
    const buffered = this.res.writableLength + this.batchBytes;
    return buffered === 0 || buffered + bytes <= this.config.maxBufferedBytes;
  }

  private accept(chunk: string, bytes: number, events: number): Promise<void> {
    if (!this.config.coalesce) return this.writeNow(chunk, bytes, events);
    this.batchText += chunk;
    this.batchBytes += bytes;
    this.batchEvents += events;
    if (this.batch === undefined) {
      this.batch = deferred();
      process.nextTick(this.flushBatch);
    }
    return this.batch.promise;
  }

  private flushBatch(): void {
    const batch = this.batch;
    if (batch === undefined) return;
    const text = this.batchText;
    const bytes = this.batchBytes;
    const events = this.batchEvents;
    this.batch = undefined;
    this.batchText = '';
    this.batchBytes = 0;
    this.batchEvents = 0;
    if (this.res.writableEnded || this.res.destroyed) {
      batch.reject(this.signal.aborted ? this.signal.reason : new StreamAbortError('closed'));
      return;
    }
    this.writeNow(text, bytes, events).then(batch.resolve, batch.reject);
  }

  private overflow(chunk: string, bytes: number, events: number): Promise<void> {
    const { overflow, maxBufferedBytes } = this.config;
    if (overflow === 'drop') {
      this.stats.dropped += events;
      publishDrop({
        kind: this.config.kind,
        traceId: this.traceId,
        bytes,
        bufferedBytes: this.bufferedBytes,
      });
      // A dropped event resolves at once: still paced, or a loop of drops never yields.
      return paced(RESOLVED);
    }
    if (overflow === 'close' || this.queuedBytes + bytes > maxBufferedBytes) {
      this.abort('overflow');
      this.res.destroy();
      return handledRejection(this.signal.reason);
    }
    const done = deferred();
    this.queue.push({ chunk, bytes, events, done });
    this.queuedBytes += bytes;
    this.waitForDrain();
    return done.promise;
  }

  private writeNow(chunk: string, bytes: number, events: number): Promise<void> {
    const res = this.res as Flushable;
    const ok = res.write(chunk);
    this.stats.sent += events;
    this.stats.bytes += bytes;
    this.wroteSinceBeat = true;
    if (typeof res.flush === 'function') res.flush();
    // Written without waiting: resolves now, or on the next turn once the time slice is spent.
    if (ok) return paced(RESOLVED);
    return this.waitForDrain();
  }

  private waitForDrain(): Promise<void> {
    if (this.drain !== undefined) return this.drain.promise;
    const drain = deferred();
    this.drain = drain;
    if (this.drainTimer === undefined) {
      // Counted only if the wait outlasts this turn: a large write to a healthy client returns
      // false and drains at once, which is not a block (write_blocked_total would rise for it).
      setImmediate(this.countIfStillBlocked, drain);
      this.blockedAt = this.res.writableLength;
      if (this.config.writeTimeout > 0) {
        this.drainTimer = setTimeout(this.onDrainTimeout, this.config.writeTimeout);
        this.drainTimer.unref();
      }
    }
    // 'drain' only comes after a write returned false; below the high-water
    // mark (a budget smaller than it, or a full queue) the buffer is polled.
    if (this.res.writableNeedDrain) this.res.once('drain', this.onDrain);
    else {
      this.pollTimer = setTimeout(this.onDrain, POLL_MS);
      this.pollTimer.unref();
    }
    return drain.promise;
  }

  private countIfStillBlocked(drain: Deferred): void {
    if (this.drain !== drain || this.reason !== undefined) return;
    this.stats.blocked++;
    publishBlocked({
      kind: this.config.kind,
      traceId: this.traceId,
      bufferedBytes: this.bufferedBytes,
    });
  }

  private onDrain(): void {
    const drain = this.drain;
    if (drain === undefined || this.reason !== undefined) return;
    this.drain = undefined;
    this.res.removeListener('drain', this.onDrain);
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    // The deadline runs until the client makes progress.
    if (this.res.writableLength < this.blockedAt || this.res.writableLength === 0) {
      if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
      this.drainTimer = undefined;
    }
    drain.resolve();
    this.pump();
  }

  /** Moves queued chunks to the socket while they fit, in order. */
  private pump(): void {
    while (this.queue.length > 0 && this.reason === undefined) {
      const head = this.queue[0] as Queued;
      if (!this.fits(head.bytes)) {
        this.waitForDrain();
        return;
      }
      this.queue.shift();
      this.queuedBytes -= head.bytes;
      this.writeNow(head.chunk, head.bytes, head.events).then(head.done.resolve, head.done.reject);
    }
  }

  private onDrainTimeout(): void {
    this.drainTimer = undefined;
    if (this.reason !== undefined) return;
    this.abort('write-timeout');
    this.res.destroy();
  }

  private onHeartbeat(): void {
    if (this.wroteSinceBeat) {
      this.wroteSinceBeat = false;
      return;
    }
    if (this.reason !== undefined || this.drain !== undefined || this.bufferedBytes > 0) return;
    this.stats.heartbeats++;
    this.writeNow(this.config.heartbeatText, Buffer.byteLength(this.config.heartbeatText), 0);
    this.wroteSinceBeat = false;
  }

  private onShutdown(): void {
    this.endGracefully('shutdown');
  }

  /** Writes everything accepted (queue included, ignoring the budget: it is in memory already), then ends. */
  protected endGracefully(reason: CloseReason, last?: string): void {
    if (this.reason !== undefined) return;
    if (this.res.writableEnded || this.res.destroyed) {
      this.abort(reason);
      return;
    }
    this.flushBatch();
    const queued = this.queue.splice(0);
    this.queuedBytes = 0;
    for (const item of queued) {
      this.writeNow(item.chunk, item.bytes, item.events);
      item.done.resolve();
    }
    this.abort(reason, true);
    if (last !== undefined) {
      this.res.write(last);
      this.stats.bytes += Buffer.byteLength(last);
    }
    this.res.end();
    if (this.config.writeTimeout > 0 && !this.res.writableFinished) {
      this.endTimer = setTimeout(this.onEndTimeout, this.config.writeTimeout);
      this.endTimer.unref();
    }
  }

  private onEndTimeout(): void {
    this.endTimer = undefined;
    this.res.destroy();
  }

  /** Marks the stream closed, aborts the signal, rejects whatever waits (resolves sends already written when `graceful`). Idempotent. */
  protected abort(reason: CloseReason, graceful = false): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    const err = new StreamAbortError(reason);
    this.controller.abort(err);
    const queued = this.queue.splice(0);
    this.queuedBytes = 0;
    for (const item of queued) item.done.reject(err);
    // A graceful end still delivers what was handed to the socket: its sends resolve.
    const drain = this.drain;
    this.drain = undefined;
    if (graceful) drain?.resolve();
    else drain?.reject(err);
    if (this.heartbeatTimer !== undefined) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    if (this.drainTimer !== undefined) clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer);
    this.pollTimer = undefined;
    this.res.removeListener('drain', this.onDrain);
  }

  private cleanup(): void {
    this.abort(this.res.writableFinished ? 'closed' : 'client-closed');
    const batch = this.batch;
    this.batch = undefined;
    this.batchText = '';
    this.batchBytes = 0;
    batch?.reject(this.signal.reason);
    if (this.endTimer !== undefined) clearTimeout(this.endTimer);
    this.endTimer = undefined;
    this.leaveShutdownFanout();
    this.unhookShutdown();
    publishClose({
      kind: this.config.kind,
      traceId: this.traceId,
      reason: this.reason ?? 'closed',
      durationMs: performance.now() - this.openedAt,
      sent: this.stats.sent,
      dropped: this.stats.dropped,
      bytes: this.stats.bytes,
    });
  }
}

function noopLeave(): void {}
