import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { responseHasBody } from '../core/internals.js';
import { BoundedCapture, type CaptureBudget, type CaptureResult, ownedBuffer } from './capture.js';
import { chunkBytes, chunkLength } from './chunk.js';
import type { TeeConfig } from './options.js';
import type { TeeCapture, TeeLocals } from './record.js';
import type { SinkTap } from './sink.js';
import { type Originals, type SessionMap, unwrapResponse } from './wrap.js';

/**
 * One side's tap: a bounded capture plus an optional streaming digest.
 *
 * @example
 * const tap = new ByteTap(65536, 0, budget, 'sha256');
 * tap.tap('hello', 'utf8');
 */
export class ByteTap {
  readonly capture: BoundedCapture;
  private readonly hash: Hash | undefined;

  constructor(
    maxBytes: number,
    tailBytes: number,
    budget: CaptureBudget,
    hash: string | undefined,
  ) {
    this.capture = new BoundedCapture(maxBytes, tailBytes, budget);
    this.hash = hash === undefined ? undefined : createHash(hash);
  }

  get bytes(): number {
    return this.capture.totalBytes;
  }

  /** Taps one chunk as `write(chunk, encoding)` would put it on the wire; returns its length. */
  tap(chunk: unknown, encoding: unknown): number {
    if (this.hash === undefined && !this.capture.wants) {
      const n = chunkLength(chunk, encoding);
      this.capture.skip(n);
      return n;
    }
    const bytes = chunkBytes(chunk, encoding);
    if (bytes === undefined || bytes.length === 0) return 0;
    this.hash?.update(bytes);
    // A string chunk was converted into a fresh Buffer: the capture may keep it without a copy.
    this.capture.add(bytes, typeof chunk === 'string');
    return bytes.length;
  }

  /** Taps bytes already converted (`owned`: a fresh Buffer nobody else holds). */
  tapBytes(bytes: Buffer, owned: boolean): void {
    this.hash?.update(bytes);
    if (this.capture.wants) this.capture.add(bytes, owned);
    else this.capture.skip(bytes.length);
  }

  /** Ends the tap: the kept bytes (still charged to the budget until {@link release}). */
  finish(): TeeCapture {
    const result: CaptureResult = this.capture.finish();
    return {
      body: result.body,
      tail: result.tail,
      bytes: result.totalBytes,
      capturedBytes: result.capturedBytes,
      truncated: result.truncated,
      budgetExceeded: result.budgetExceeded,
      digest: this.hash?.digest('hex'),
      redaction: 'none',
    };
  }

  release(): void {
    this.capture.release();
  }
}

/**
 * The per-response state of one tee: counters, timings and the taps. It is
 * also what `res.locals.tee` shows (live counters).
 *
 * @example
 * const session = new TeeSession(req, res, config, budget);
 */
export class TeeSession implements TeeLocals {
  readonly startedAt = Date.now();
  readonly t0 = performance.now();
  readonly response: ByteTap;
  readonly requestTap: ByteTap | undefined;
  writes = 0;
  /** `res.end()` was called after the connection was already gone: nothing reached the client. */
  endedAfterLoss = false;
  done = false;
  headersAt: number | undefined;
  firstByteAt: number | undefined;
  endAt: number | undefined;
  closeAt: number | undefined;
  /** Whether the tee wrapped Node's own `write`/`end` (its bytes are the wire bytes). */
  wire = true;

  originals: Originals | undefined;
  untapRequest: (() => void) | undefined;
  /** Budget taken for the record beyond the captures (its decoded copy). */
  extraCharge = 0;
  /** The streaming sink, when the `sink` option gave one. */
  sinkTap: SinkTap | undefined;
  /** Ends the finish work held for this response (shutdown waits for it). */
  finishWork: () => void = noop;
  private unwrapped = false;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    config: TeeConfig,
    budget: CaptureBudget,
    private readonly sessions: SessionMap,
  ) {
    this.response = new ByteTap(config.maxBytes, config.tailBytes, budget, config.hash);
    this.requestTap =
      config.request === undefined
        ? undefined
        : new ByteTap(config.request.maxBytes, config.request.tailBytes, budget, config.hash);
  }

  get bytes(): number {
    return this.response.bytes;
  }

  get capturedBytes(): number {
    return this.response.capture.capturedBytes;
  }

  get truncated(): boolean {
    return this.response.capture.truncated;
  }

  get requestBytes(): number {
    return this.requestTap?.bytes ?? 0;
  }

  /** Removes the wrappers (idempotent). */
  unwrap(): void {
    if (this.unwrapped) return;
    this.unwrapped = true;
    if (this.originals !== undefined) unwrapResponse(this.res, this.originals, this.sessions);
    this.untapRequest?.();
  }

  /** Gives back the budget taken for the record beyond the captures (idempotent). */
  releaseExtra(budget: CaptureBudget): void {
    budget.give(this.extraCharge);
    this.extraCharge = 0;
  }

  /** Milliseconds since the tee saw the request. */
  now(): number {
    return performance.now() - this.t0;
  }

  /** After a write/end was forwarded and accepted: count and copy its chunk. */
  onBody(chunk: unknown, encoding: unknown): void {
    if (this.done || chunk === undefined || chunk === null) return;
    if (!responseHasBody(this.res)) return;
    this.onHeaders();
    const n =
      this.sinkTap === undefined
        ? this.response.tap(chunk, encoding)
        : this.toSink(chunk, encoding);
    if (n === 0) return;
    this.writes++;
    if (this.firstByteAt === undefined) this.firstByteAt = this.now();
  }

  /** Taps a chunk and hands it to the sink; a chunk of the caller's is copied (it may reuse it). */
  private toSink(chunk: unknown, encoding: unknown): number {
    const bytes = chunkBytes(chunk, encoding);
    if (bytes === undefined || bytes.length === 0) return 0;
    const owned = typeof chunk === 'string';
    this.response.tapBytes(bytes, owned);
    let copy = bytes;
    if (!owned) {
      copy = ownedBuffer(bytes.length);
      bytes.copy(copy);
    }
    this.sinkTap!.write(copy);
    return bytes.length;
  }

  /** After `end()` was forwarded: every body byte has been handed to Node. */
  onEnd(): void {
    this.onHeaders();
    if (this.endAt === undefined) this.endAt = this.now();
  }

  /** After flushHeaders, or a write or end, was forwarded: the header block went out. */
  onHeaders(): void {
    if (this.headersAt === undefined && this.res.headersSent) this.headersAt = this.now();
  }

  /** A chunk the application read from the request. */
  onRequestData(chunk: unknown): void {
    if (this.done || this.requestTap === undefined) return;
    // Node draining a body nobody read (after the response) is not the application reading it.
    if ((this.req as IncomingMessage & { _dumped?: boolean })._dumped === true) return;
    this.requestTap.tap(chunk, this.req.readableEncoding ?? undefined);
  }
}

function noop(): void {}
