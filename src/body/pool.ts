import diagnostics from 'node:diagnostics_channel';
import { HttpError } from '../core/errors.js';
import type { BufferPoolStats } from '../core/instrument.js';
import { type BodyPoolMessage, CHANNELS } from '../core/instrument.js';
import { readOptions } from '../core/options.js';
import { parseBytes } from '../core/units.js';

/**
 * Options for {@link BufferPool}.
 *
 * @example
 * const options: BufferPoolOptions = { maxInFlight: '32mb', maxRetained: '8mb' };
 */
export interface BufferPoolOptions {
  /** Smallest size class in bytes (a power of two is used). Default `'1kb'`. */
  minClass?: number | string;
  /** Largest pooled size class; bigger leases are allocated and never retained. Default `'4mb'`. */
  maxClass?: number | string;
  /** Cap on bytes kept in the free lists between requests. Default `'16mb'`. */
  maxRetained?: number | string;
  /** Budget on leased bytes across all requests; past it, leases fail with 503. Default `'64mb'`. */
  maxInFlight?: number | string;
  /** Fill released memory with `0xdb` instead of zeros (use in tests). Default `false`. */
  poison?: boolean;
  /** Seconds sent in `Retry-After` when the in-flight budget is exhausted. Default `1`. */
  retryAfter?: number;
}

/**
 * The byte value released memory is filled with when `poison` is on.
 *
 * @example
 * const pool = new BufferPool({ poison: true }); // in tests: released bytes read 0xdb
 */
export const POISON_BYTE = 0xdb;

const poolChannel = diagnostics.channel(CHANNELS.bodyPool);

/** What a released lease points at. */
const EMPTY = new ArrayBuffer(0);

/** Publishes a pool event; builds the message only when someone listens. */
function publishPool(pool: BufferPool, event: BodyPoolMessage['event'], bytes: number): void {
  if (poolChannel.hasSubscribers) poolChannel.publish({ event, bytes, stats: pool.stats() });
}

/**
 * One lease of pooled memory. The lease owns its own `ArrayBuffer` (never a
 * slice of a shared slab); if a view of it was ever handed out ({@link view}),
 * that `ArrayBuffer` is detached on release, so any Buffer view still held by
 * user code becomes empty instead of showing the next request's bytes. Memory
 * only this package ever looked at goes back as is, without the detach.
 *
 * @example
 * const lease = pool.lease(4096);
 * lease.view(5).write('hello');
 * lease.release(); // the view above is now empty
 */
export class Lease {
  /** @internal */ memory: ArrayBuffer;
  /** The size class (capacity) in bytes. */
  readonly capacity: number;
  /** @internal Bytes written so far (what release clears). */
  used = 0;
  /** @internal Whether a view reached code outside this package (then release detaches). */
  exposed = false;
  private done = false;
  private readonly pool: BufferPool;

  /** Made by `BufferPool#lease()`; user code never constructs one. */
  constructor(pool: BufferPool, memory: ArrayBuffer) {
    this.pool = pool;
    this.memory = memory;
    this.capacity = memory.byteLength;
  }

  /** Whether the memory went back to the pool. */
  get released(): boolean {
    return this.done;
  }

  /** A view of the first `length` bytes; throws `body.released` after release. */
  view(length: number): Buffer {
    const view = this.peek(length);
    this.exposed = true;
    return view;
  }

  /** @internal A view for this package's own use, never handed to user code. */
  peek(length: number): Buffer {
    if (this.done) throw releasedError();
    if (isDetached(this.memory, this.capacity)) throw transferredError();
    return Buffer.from(this.memory, 0, length);
  }

  /**
   * Takes the memory out of the pool without copying: returns a Buffer the
   * caller owns; the pool stops counting it. Earlier views become empty.
   */
  detach(length: number): Buffer {
    if (this.done) throw releasedError();
    if (isDetached(this.memory, this.capacity)) throw transferredError();
    this.done = true;
    const moved = structuredClone(this.memory, { transfer: [this.memory] });
    this.memory = new ArrayBuffer(0);
    this.pool.forget(this);
    return Buffer.from(moved, 0, length);
  }

  /** Returns the memory to the pool. Idempotent. (Holders are counted by `RereadableBody`.) */
  release(): void {
    if (this.done) return;
    this.done = true;
    this.pool.giveBack(this);
  }
}

/**
 * The error a use of released pooled memory throws.
 *
 * @example
 * try { body.buffer(); } catch (err) { err.type === 'body.released'; }
 */
export function releasedError(): HttpError {
  return new HttpError(
    500,
    'body.released',
    'the request body was released when the response finished; use copy() or detach() to keep it',
  );
}

/**
 * A pool of request-body memory: power-of-two size classes with a free list
 * each, a cap on retained bytes, and a budget on bytes in flight across all
 * requests. A lease past the budget throws a 503 `body.pool.exhausted`
 * with `Retry-After`, before anything is allocated.
 *
 * @example
 * const pool = new BufferPool({ maxInFlight: '32mb' });
 * app.use(rereadableBody({ pool }));
 * setInterval(() => console.log(pool.stats()), 10_000).unref();
 */
export class BufferPool {
  private readonly minClass: number;
  private readonly maxClass: number;
  private readonly maxRetained: number;
  /** Budget on leased bytes across all requests (the `maxInFlight` option, in bytes). */
  readonly maxInFlight: number;
  private readonly poison: boolean;
  private readonly retryAfter: number;
  private readonly free = new Map<number, ArrayBuffer[]>();
  private counters: BufferPoolStats = {
    hits: 0,
    misses: 0,
    rejected: 0,
    inUse: 0,
    retained: 0,
    peak: 0,
    leases: 0,
  };
  private closed = false;

  constructor(options?: BufferPoolOptions) {
    const o = readOptions(options, 'BufferPool', [
      'minClass',
      'maxClass',
      'maxRetained',
      'maxInFlight',
      'poison',
      'retryAfter',
    ]);
    this.minClass = nextPow2(Math.max(64, parseBytes(o.minClass ?? '1kb', 'minClass')));
    this.maxClass = nextPow2(Math.max(this.minClass, parseBytes(o.maxClass ?? '4mb', 'maxClass')));
    this.maxRetained = parseBytes(o.maxRetained ?? '16mb', 'maxRetained');
    this.maxInFlight = parseBytes(o.maxInFlight ?? '64mb', 'maxInFlight');
    if (o.poison !== undefined && typeof o.poison !== 'boolean')
      throw new TypeError('option poison must be a boolean');
    this.poison = o.poison ?? false;
    const retry = o.retryAfter ?? 1;
    if (!Number.isInteger(retry) || retry < 0)
      throw new TypeError('option retryAfter must be a non-negative integer of seconds');
    this.retryAfter = retry;
  }

  /** The capacity a lease of `size` bytes gets. */
  classFor(size: number): number {
    if (size <= this.minClass) return this.minClass;
    if (size > this.maxClass) return size;
    return nextPow2(size);
  }

  /**
   * Leases memory for at least `size` bytes. Throws a 503 `body.pool.exhausted`
   * (with `Retry-After`) when the in-flight budget would be exceeded.
   */
  lease(size: number): Lease {
    const capacity = this.classFor(size);
    const c = this.counters;
    if (c.inUse + capacity > this.maxInFlight) {
      c.rejected++;
      publishPool(this, 'exhausted', capacity);
      throw new HttpError(
        503,
        'body.pool.exhausted',
        'too many request bodies in flight; retry shortly',
        {
          limit: this.maxInFlight,
          received: capacity,
          retryAfter: this.retryAfter,
          headers: { 'Retry-After': String(this.retryAfter) },
        },
      );
    }
    const list = this.free.get(capacity);
    let memory = list?.pop();
    if (memory === undefined) {
      c.misses++;
      memory = new ArrayBuffer(capacity);
    } else {
      c.hits++;
      c.retained -= capacity;
    }
    c.inUse += capacity;
    c.leases++;
    if (c.inUse > c.peak) c.peak = c.inUse;
    publishPool(this, 'lease', capacity);
    return new Lease(this, memory);
  }

  /** @internal Called by {@link Lease.release}. */
  giveBack(lease: Lease): void {
    const c = this.counters;
    const capacity = lease.capacity;
    // User code may have transferred the memory away (postMessage with a
    // transfer list): it is gone, only the accounting is left to undo.
    const gone = isDetached(lease.memory, capacity);
    // Detach every view handed out: the memory moves to a fresh ArrayBuffer object.
    const moved =
      lease.exposed && !gone
        ? structuredClone(lease.memory, { transfer: [lease.memory] })
        : lease.memory;
    lease.memory = EMPTY;
    c.inUse -= capacity;
    c.leases--;
    const keep =
      !gone &&
      !this.closed &&
      capacity <= this.maxClass &&
      c.retained + capacity <= this.maxRetained;
    if (keep) {
      new Uint8Array(moved, 0, lease.used).fill(this.poison ? POISON_BYTE : 0);
      let list = this.free.get(capacity);
      if (list === undefined) {
        list = [];
        this.free.set(capacity, list);
      }
      list.push(moved);
      c.retained += capacity;
    }
    publishPool(this, 'release', capacity);
  }

  /** @internal Called by {@link Lease.detach}: the memory left the pool. */
  forget(lease: Lease): void {
    this.counters.inUse -= lease.capacity;
    this.counters.leases--;
    publishPool(this, 'release', lease.capacity);
  }

  /** The pool's counters. */
  stats(): BufferPoolStats {
    return { ...this.counters };
  }

  /** Drops every retained buffer; outstanding leases are not retained when they come back. */
  close(): void {
    this.closed = true;
    this.free.clear();
    this.counters.retained = 0;
  }
}

/** Whether `memory` was detached (transferred away) by someone: it lost its bytes. */
function isDetached(memory: ArrayBuffer, capacity: number): boolean {
  return memory.byteLength !== capacity;
}

/** The error a use of pooled memory that user code transferred away (postMessage) throws. */
function transferredError(): HttpError {
  return new HttpError(
    500,
    'body.released',
    'the request body memory was transferred away (postMessage with a transfer list); use copy() or detach() before transferring',
  );
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export type { BufferPoolStats };
