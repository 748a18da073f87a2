/**
 * A byte budget shared by every request of one `responseTee()` factory: the
 * bytes all captures of the factory retain together may not exceed `max`.
 * Taking never blocks; a capture that cannot take what it wants keeps less and
 * is flagged.
 *
 * @example
 * const budget = new CaptureBudget(64 * 1024 * 1024);
 * const got = budget.take(4096); // 0..4096
 */
export class CaptureBudget {
  /** Bytes currently retained by captures of this factory (and their records). */
  inFlight = 0;

  constructor(readonly max: number) {}

  /** Takes up to `wanted` bytes; returns how many were granted. */
  take(wanted: number): number {
    const granted = Math.min(wanted, this.max - this.inFlight);
    if (granted <= 0) return 0;
    this.inFlight += granted;
    return granted;
  }

  /** Gives back bytes taken earlier. */
  give(bytes: number): void {
    this.inFlight = Math.max(0, this.inFlight - bytes);
  }
}

/**
 * What a finished {@link BoundedCapture} hands over.
 *
 * @example
 * const { body, tail, truncated }: CaptureResult = capture.finish();
 */
export interface CaptureResult {
  /** The first bytes (the whole body when nothing was cut). */
  body: Buffer;
  /** The last bytes, when head+tail capture dropped bytes in between; else empty. */
  tail: Buffer;
  /** Bytes seen, captured or not. */
  totalBytes: number;
  /** `body.length + tail.length`. */
  capturedBytes: number;
  /** Whether some bytes seen are not in `body`/`tail`. */
  truncated: boolean;
  /** Whether the factory's in-flight budget cut this capture short. */
  budgetExceeded: boolean;
}

/** Smallest and largest block a head grows by after its first (exact) one. */
const MIN_BLOCK = 1024;
const MAX_BLOCK = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * A Buffer with its own ArrayBuffer of exactly `size` bytes. `Buffer.from`,
 * `Buffer.concat` and `allocUnsafe` below 4 KiB return a slice of Node's
 * shared 8 KiB pool, and a kept slice keeps the whole slab alive (and with it
 * whatever else was allocated there): a capture must never retain one.
 *
 * @example
 * const copy = ownedBuffer(100); // copy.buffer.byteLength === 100
 */
export function ownedBuffer(size: number): Buffer {
  return size === 0 ? EMPTY : Buffer.allocUnsafeSlow(size);
}

/**
 * A copy of `parts` (`total` bytes) in a Buffer of its own (see {@link ownedBuffer}).
 *
 * @example
 * const body = ownedConcat(chunks, total);
 */
export function ownedConcat(parts: readonly Uint8Array[], total: number): Buffer {
  const out = ownedBuffer(total);
  let at = 0;
  for (const part of parts) {
    if (at >= total) break;
    const n = Math.min(part.byteLength, total - at);
    out.set(n === part.byteLength ? part : part.subarray(0, n), at);
    at += n;
  }
  return out;
}

/** Whether `bytes` is the whole of an ArrayBuffer (keeping it retains nothing more). */
function ownsItsMemory(bytes: Buffer): boolean {
  return bytes.byteOffset === 0 && bytes.buffer.byteLength === bytes.length;
}

/**
 * A bounded copy of a byte stream: a head of at most `maxBytes`, optionally
 * a tail of the last `tailBytes`, charged against a shared
 * {@link CaptureBudget} for every byte it retains, not just the bytes it
 * captured. The head is copied into blocks of its own memory (the first one
 * the size of the first chunk, then growing, at most 64 KiB each), the tail
 * into one ring of `tailBytes` allocated when the first tail byte arrives; no
 * block is ever a view of the application's chunk or of Node's Buffer pool.
 * {@link finish} joins them into exact-size Buffers and gives the spare
 * capacity back; {@link release} gives back the rest.
 *
 * @example
 * const capture = new BoundedCapture(65536, 0, budget);
 * capture.add(chunk);
 * const { body, truncated } = capture.finish();
 */
export class BoundedCapture {
  totalBytes = 0;
  headBytes = 0;
  tailHeld = 0;
  truncated = false;
  budgetExceeded = false;
  /** Bytes charged to the budget: the capacity of every block and ring held. */
  charged = 0;
  private blocks: Buffer[] = [];
  /** Bytes used in the last block. */
  private fill = 0;
  private ring: Buffer | undefined;
  private ringStart = 0;
  private headOpen = true;
  private tailOpen: boolean;
  private finished = false;

  constructor(
    private readonly maxBytes: number,
    private readonly tailBytes: number,
    private readonly budget: CaptureBudget,
  ) {
    this.tailOpen = tailBytes > 0;
  }

  /** Bytes currently held (head + tail). */
  get capturedBytes(): number {
    return this.headBytes + this.tailHeld;
  }

  /** Whether {@link add} would keep any of the next bytes (else {@link skip} is enough). */
  get wants(): boolean {
    return !this.finished && (this.headOpen || this.tailOpen);
  }

  /** Counts `n` bytes that are not kept. */
  skip(n: number): void {
    if (n === 0 || this.finished) return;
    this.totalBytes += n;
    this.truncated = true;
  }

  /**
   * Records `bytes` (a Buffer view; copied here only as far as it fits).
   * `owned`: `bytes` is a fresh Buffer nobody else holds (a converted string
   * chunk); when it is the whole of its own memory (not a pool slice) and fits
   * whole, it is kept as is instead of being copied again.
   */
  add(bytes: Buffer, owned = false): void {
    const n = bytes.length;
    if (n === 0 || this.finished) return;
    this.totalBytes += n;
    let offset = 0;
    if (this.headOpen) {
      offset = this.addHead(bytes, owned);
      if (offset === n) return;
    }
    this.addTail(bytes, offset);
  }

  /** Copies what fits of `bytes` into the head; returns how many bytes it took. */
  private addHead(bytes: Buffer, owned: boolean): number {
    const n = bytes.length;
    const wanted = Math.min(this.maxBytes - this.headBytes, n);
    let taken = 0;
    const last = this.blocks[this.blocks.length - 1];
    if (last !== undefined && this.fill < last.length) {
      taken = Math.min(last.length - this.fill, wanted);
      bytes.copy(last, this.fill, 0, taken);
      this.fill += taken;
    }
    const rest = wanted - taken;
    if (rest > 0) {
      const room = this.maxBytes - this.headBytes - taken;
      if (owned && taken === 0 && rest === n && ownsItsMemory(bytes)) {
        const granted = this.budget.take(n);
        if (granted === n) {
          this.blocks.push(bytes);
          this.fill = n;
          this.charged += n;
          this.headBytes += n;
          this.closeHeadIfFull();
          return n;
        }
        this.budget.give(granted);
      }
      const grow =
        this.blocks.length === 0
          ? 0
          : Math.min(Math.max(this.headBytes + taken, MIN_BLOCK), MAX_BLOCK);
      const granted = this.budget.take(Math.min(room, Math.max(rest, grow)));
      if (granted > 0) {
        const block = ownedBuffer(granted);
        const copied = Math.min(granted, rest);
        bytes.copy(block, 0, taken, taken + copied);
        this.blocks.push(block);
        this.fill = copied;
        this.charged += granted;
        taken += copied;
      }
      if (granted < rest) {
        this.budgetExceeded = true;
        this.headOpen = false;
      }
    }
    this.headBytes += taken;
    this.closeHeadIfFull();
    return taken;
  }

  private closeHeadIfFull(): void {
    if (this.headBytes >= this.maxBytes) this.headOpen = false;
  }

  private addTail(bytes: Buffer, offset: number): void {
    const rest = bytes.length - offset;
    if (!this.tailOpen) {
      this.truncated = true;
      return;
    }
    let ring = this.ring;
    if (ring === undefined) {
      const granted = this.budget.take(this.tailBytes);
      if (granted < this.tailBytes) {
        this.budget.give(granted);
        this.budgetExceeded = true;
        this.truncated = true;
        this.tailOpen = false;
        return;
      }
      ring = ownedBuffer(this.tailBytes);
      this.ring = ring;
      this.charged += this.tailBytes;
    }
    const size = ring.length;
    if (rest >= size) {
      // The chunk alone fills the ring: its last bytes replace everything held.
      if (rest > size || this.tailHeld > 0) this.truncated = true;
      bytes.copy(ring, 0, bytes.length - size);
      this.ringStart = 0;
      this.tailHeld = size;
      return;
    }
    const overflow = this.tailHeld + rest - size;
    const at = (this.ringStart + this.tailHeld) % size;
    const first = Math.min(rest, size - at);
    bytes.copy(ring, at, offset, offset + first);
    if (first < rest) bytes.copy(ring, 0, offset + first, bytes.length);
    if (overflow > 0) {
      this.truncated = true;
      this.ringStart = (this.ringStart + overflow) % size;
      this.tailHeld = size;
    } else {
      this.tailHeld += rest;
    }
  }

  /** The head as one exact-size Buffer (the single full block as is). */
  private joinHead(): Buffer {
    const blocks = this.blocks;
    if (blocks.length === 1 && this.fill === blocks[0]!.length) return blocks[0]!;
    return ownedConcat(blocks, this.headBytes);
  }

  /** The tail, oldest byte first, as one exact-size Buffer. */
  private joinTail(): Buffer {
    const ring = this.ring;
    if (ring === undefined || this.tailHeld === 0) return EMPTY;
    if (this.ringStart === 0 && this.tailHeld === ring.length) return ring;
    const out = ownedBuffer(this.tailHeld);
    const first = Math.min(this.tailHeld, ring.length - this.ringStart);
    ring.copy(out, 0, this.ringStart, this.ringStart + first);
    if (first < this.tailHeld) ring.copy(out, first, 0, this.tailHeld - first);
    return out;
  }

  /**
   * Stops capturing and returns what was kept, each part one exact-size
   * Buffer; the blocks and ring are dropped at once (never held twice) and
   * their spare capacity goes back to the budget. What is returned stays
   * charged until {@link release}.
   */
  finish(): CaptureResult {
    this.finished = true;
    let body = this.joinHead();
    let tail = this.joinTail();
    this.blocks = [];
    this.fill = 0;
    this.ring = undefined;
    // A tail that continues the head without a gap is part of the body.
    if (!this.truncated && tail.length > 0) {
      body = ownedConcat([body, tail], body.length + tail.length);
      tail = EMPTY;
    }
    const truncated = this.truncated || this.capturedBytes < this.totalBytes;
    const kept = body.length + tail.length;
    this.budget.give(this.charged - kept);
    this.charged = kept;
    return {
      body,
      tail,
      totalBytes: this.totalBytes,
      capturedBytes: this.capturedBytes,
      truncated,
      budgetExceeded: this.budgetExceeded,
    };
  }

  /** Gives the retained bytes back to the budget (idempotent). */
  release(): void {
    const held = this.charged;
    this.charged = 0;
    this.headBytes = 0;
    this.tailHeld = 0;
    this.blocks = [];
    this.fill = 0;
    this.ring = undefined;
    this.finished = true;
    this.budget.give(held);
  }
}
