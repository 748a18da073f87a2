import type { IncomingMessage } from 'node:http';
import type { Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { HttpError } from '../core/errors.js';
import {
  aborted,
  inflateFailed,
  ratioExceeded,
  sizeInvalid,
  timedOut,
  tooLarge,
  wireTooLarge,
} from './errors.js';
import type { BufferPool, Lease } from './pool.js';

/** What the reader needs from the middleware's config. */
export interface ReadLimits {
  limit: number;
  /** Most bytes on the wire (compressed, before inflation). */
  wireLimit: number;
  maxInflationRatio: number;
  /** Most milliseconds without a body byte before a 408; `0`: no bound. */
  timeout: number;
}

/** A body read into pooled memory. */
export interface ReadResult {
  lease: Lease;
  length: number;
  received: number;
}

/** Bytes of inflated output a body may produce before the ratio guard applies. */
const RATIO_GRACE = 64 * 1024;
/** First lease for a body of unknown length. */
export const UNKNOWN_START = 16 * 1024;
/**
 * Most bytes leased with the first byte, whatever the Content-Length
 * announces: a client that sends a few bytes must not hold the budget.
 * (Nothing is leased before the first byte.)
 */
export const FIRST_LEASE = 64 * 1024;

/**
 * Reads `req` into a lease from `pool` (raw-body semantics: limit on decoded
 * bytes, Content-Length checked, gzip/deflate/br inflated with a ratio
 * guard). Calls `done` exactly once. On failure the lease is already
 * released and the request is left for the caller to drain or close.
 */
export function readBody(
  req: IncomingMessage,
  pool: BufferPool,
  encoding: string,
  expected: number | undefined,
  limits: ReadLimits,
  done: (err: HttpError | null, result?: ReadResult) => void,
): void {
  const identity = encoding === 'identity';
  // Nothing is leased before the first byte: a client that sends headers
  // only holds no pooled memory.
  let lease: Lease | undefined;
  let bytes = new Uint8Array(0);
  let length = 0;
  let received = 0;
  let finished = false;
  let wireEnded = false;
  const inflater = identity ? undefined : createInflater(encoding);
  // One timer per read, pushed back on every chunk (refresh() reuses it).
  const timer = limits.timeout > 0 ? setTimeout(onStall, limits.timeout).unref() : undefined;

  function finish(err: HttpError | null): void {
    if (finished) return;
    finished = true;
    if (timer !== undefined) clearTimeout(timer);
    req.removeListener('data', onWire);
    req.removeListener('end', onWireEnd);
    req.removeListener('close', onClose);
    if (inflater !== undefined) {
      inflater.removeListener('data', onDecoded);
      inflater.removeListener('end', onDecodedEnd);
      inflater.removeListener('error', onInflateError);
      if (err !== null) inflater.destroy();
    }
    if (err !== null) {
      lease?.release();
      done(err);
      return;
    }
    if (lease === undefined) {
      // An empty body still gets a (smallest) lease: the body and its replay need one.
      try {
        lease = pool.lease(0);
      } catch (leaseErr) {
        done(leaseErr as HttpError);
        return;
      }
    }
    done(null, { lease, length, received });
  }

  function append(chunk: Buffer): void {
    const next = length + chunk.length;
    if (next > limits.limit) {
      finish(tooLarge(limits.limit, next, expected));
      return;
    }
    if (lease === undefined || next > lease.capacity) {
      let grown: Lease;
      try {
        grown = pool.lease(
          lease === undefined
            ? Math.max(next, firstLease(identity, expected, limits.limit))
            : growTo(next, lease.capacity, identity ? expected : undefined, limits),
        );
      } catch (err) {
        finish(err as HttpError);
        return;
      }
      const target = new Uint8Array(grown.memory);
      target.set(bytes.subarray(0, length));
      grown.used = length;
      lease?.release();
      lease = grown;
      bytes = target;
    }
    bytes.set(chunk, length);
    length = next;
    lease.used = length;
  }

  function onStall(): void {
    finish(timedOut(limits.timeout, received, expected));
  }

  function onWire(chunk: Buffer): void {
    timer?.refresh();
    received += chunk.length;
    // A compressed body can grow without decoding to anything (a gzip
    // FCOMMENT that never ends): the decoded limit alone never trips. An
    // identity body's wire bytes are its bytes: `limit` answers it, unless
    // wireLimit is the tighter bound.
    if (
      received > limits.wireLimit &&
      (inflater !== undefined || limits.wireLimit < limits.limit)
    ) {
      finish(wireTooLarge(limits.wireLimit, received, encoding, expected));
      return;
    }
    if (inflater === undefined) {
      append(chunk);
      return;
    }
    inflater.write(chunk);
  }

  function onDecoded(chunk: Buffer): void {
    if (finished) return;
    if (
      length + chunk.length > RATIO_GRACE &&
      length + chunk.length > received * limits.maxInflationRatio
    ) {
      finish(ratioExceeded(limits.maxInflationRatio, received, length + chunk.length));
      return;
    }
    append(chunk);
  }

  function onWireEnd(): void {
    wireEnded = true;
    if (expected !== undefined && received !== expected) {
      finish(sizeInvalid(expected, received));
      return;
    }
    if (inflater === undefined) finish(null);
    else inflater.end();
  }

  function onDecodedEnd(): void {
    finish(null);
  }

  function onInflateError(err: Error): void {
    finish(inflateFailed(err));
  }

  function onClose(): void {
    if (!wireEnded) finish(aborted(received, expected));
  }

  if (inflater !== undefined) {
    inflater.on('data', onDecoded);
    inflater.on('end', onDecodedEnd);
    inflater.on('error', onInflateError);
  }
  req.on('data', onWire);
  req.on('end', onWireEnd);
  // No 'error' listener: on Node >= 20 an IncomingMessage emits 'error' only
  // to listeners, and an aborted or destroyed request always emits 'close',
  // before which its data did not end: that is the abort.
  req.on('close', onClose);
}

/** The first lease, taken with the first byte: what the body will need as far as is known, at most {@link FIRST_LEASE}. */
function firstLease(identity: boolean, expected: number | undefined, limit: number): number {
  if (identity && expected !== undefined) return Math.min(expected, FIRST_LEASE);
  return Math.min(limit, UNKNOWN_START);
}

/**
 * The next lease once `next` bytes no longer fit: the next size class up
 * (twice the current one), never past what the body can still need (its
 * Content-Length, else the limit). Memory follows the bytes that arrived.
 */
function growTo(
  next: number,
  capacity: number,
  expected: number | undefined,
  limits: ReadLimits,
): number {
  const most = expected === undefined ? limits.limit : Math.min(expected, limits.limit);
  return Math.max(next, Math.min(most, capacity * 2));
}

function createInflater(encoding: string): Transform {
  if (encoding === 'gzip' || encoding === 'x-gzip') return createGunzip();
  if (encoding === 'br') return createBrotliDecompress();
  return createInflate();
}
