import type { Writable } from 'node:stream';
import { show } from '../core/units.js';
import type { CaptureBudget } from './capture.js';

/**
 * What a streaming sink got, on `record.sink`.
 *
 * @example
 * if (record.sink?.truncated) await markIncomplete(record.traceId);
 */
export interface TeeSinkRecord {
  /** Body bytes handed to the sink (written, or queued in it). */
  bytes: number;
  /**
   * Whether the sink missed bytes of the body: it was cut because its queue
   * passed `sinkMaxQueue`, or it failed, or the response did not complete.
   */
  truncated: boolean;
  /** Why the sink was cut or failed (`undefined` when it got everything). */
  error: unknown;
}

/** The part of a Writable a sink needs. */
type SinkStream = Pick<Writable, 'write' | 'end' | 'destroy' | 'on' | 'once' | 'removeListener'> & {
  readonly writableLength: number;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
};

/**
 * Whether a value returned by the `sink` option is a Writable the tee can use.
 *
 * @example
 * if (!isSinkStream(value)) throw new TypeError('not a Writable');
 */
export function isSinkStream(value: unknown): value is Writable {
  const s = value as Partial<Record<'write' | 'end' | 'destroy' | 'on' | 'once', unknown>> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.write === 'function' &&
    typeof s.end === 'function' &&
    typeof s.destroy === 'function' &&
    typeof s.on === 'function' &&
    typeof s.once === 'function'
  );
}

/**
 * The error a sink is destroyed with when it fell behind.
 *
 * @example
 * if (record.sink?.error instanceof TeeSinkError) console.log(record.sink.error.queued);
 */
export class TeeSinkError extends Error {
  override readonly name = 'TeeSinkError';
  constructor(
    message: string,
    readonly code: 'TEE_SINK_BEHIND' | 'TEE_SINK_BUDGET' | 'TEE_SINK_INCOMPLETE',
    readonly queued: number,
  ) {
    super(message);
  }
}

/**
 * Streams every body byte to a user's Writable as it flows, never slowing
 * the response: the tee does not wait for the sink (the response's
 * `write()` return value is untouched). The sink's queue is bounded: a
 * write that would take it past `maxQueue` bytes (an empty queue always
 * takes one chunk) cuts the sink — it is destroyed with a
 * {@link TeeSinkError} and gets nothing more. A sink that errors is cut the
 * same way and the error reported. Every queued chunk is also charged to
 * the factory's `maxInFlightBytes` until the sink calls back its write (or
 * closes); a chunk the budget cannot take cuts the sink too.
 *
 * @example
 * const tap = new SinkTap(fs.createWriteStream('body.bin'), 1 << 20, budget, report);
 * tap.write(chunk);
 * tap.finish(true);
 */
export class SinkTap {
  bytes = 0;
  truncated = false;
  error: unknown = undefined;
  private open = true;
  private closed = false;
  /** Bytes handed to the sink and charged to the budget, not yet called back. */
  private charged = 0;
  private readonly stream: SinkStream;

  constructor(
    stream: Writable,
    private readonly maxQueue: number,
    private readonly budget: CaptureBudget,
    private readonly report: (error: unknown) => void,
  ) {
    this.stream = stream;
    const self = this;
    // Kept until the sink closes: a late error (a failed flush) must not crash the process.
    function onSinkError(error: unknown): void {
      self.failed(error);
    }
    function onSinkClose(): void {
      stream.removeListener('error', onSinkError);
      // A sink that closed holds nothing more: whatever it did not call back goes back now.
      self.closed = true;
      self.budget.give(self.charged);
      self.charged = 0;
    }
    stream.on('error', onSinkError);
    stream.once('close', onSinkClose);
  }

  /** Hands one chunk (already forwarded to the client) to the sink. */
  write(bytes: Buffer): void {
    if (!this.open || bytes.length === 0) {
      if (bytes.length > 0) this.truncated = true;
      return;
    }
    const queued = this.stream.writableLength;
    if (queued > 0 && queued + bytes.length > this.maxQueue) {
      this.cut(
        new TeeSinkError(
          `tee sink fell behind: ${queued} bytes queued, sinkMaxQueue is ${this.maxQueue}`,
          'TEE_SINK_BEHIND',
          queued,
        ),
      );
      this.truncated = true;
      this.report(this.error);
      return;
    }
    const n = bytes.length;
    const granted = this.budget.take(n);
    if (granted < n) {
      this.budget.give(granted);
      this.cut(
        new TeeSinkError(
          `tee sink: maxInFlightBytes exhausted with ${queued} bytes queued`,
          'TEE_SINK_BUDGET',
          queued,
        ),
      );
      this.truncated = true;
      this.report(this.error);
      return;
    }
    this.charged += n;
    const self = this;
    function written(): void {
      if (self.closed) return;
      self.charged -= n;
      self.budget.give(n);
    }
    try {
      this.stream.write(bytes, written);
      this.bytes += n;
    } catch (error) {
      this.failed(error);
      this.truncated = true;
    }
  }

  /** The response closed: a complete one ends the sink, anything else destroys it. */
  finish(completed: boolean): void {
    if (!this.open) return;
    if (completed) {
      this.open = false;
      try {
        this.stream.end();
      } catch (error) {
        this.failed(error);
      }
      return;
    }
    this.truncated = true;
    this.cut(
      new TeeSinkError(
        'tee sink: the response did not complete',
        'TEE_SINK_INCOMPLETE',
        this.stream.writableLength,
      ),
    );
  }

  /** What the record says about the sink. */
  toRecord(): TeeSinkRecord {
    return { bytes: this.bytes, truncated: this.truncated, error: this.error };
  }

  private cut(error: TeeSinkError): void {
    this.open = false;
    if (this.error === undefined) this.error = error;
    try {
      if (!this.stream.destroyed) this.stream.destroy(error);
    } catch (destroyError) {
      this.report(destroyError);
    }
  }

  private failed(error: unknown): void {
    // The error the tee itself destroyed the sink with is not a failure to report.
    if (error instanceof TeeSinkError && error === this.error) return;
    // A sink that failed (even while flushing after end) did not save the whole body.
    this.truncated = true;
    if (this.error === undefined) this.error = error;
    this.report(error);
    if (this.open) {
      this.open = false;
      try {
        if (!this.stream.destroyed) this.stream.destroy();
      } catch {
        // Already reported the sink's failure.
      }
    }
  }
}

/**
 * Describes a bad value returned by the `sink` option.
 *
 * @example
 * report(badSink(42));
 */
export function badSink(value: unknown): TypeError {
  return new TypeError(`sink must return a Writable or undefined, got ${show(value)}`);
}
