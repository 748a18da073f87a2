/**
 * A byte budget shared by every request of one `responseTee()` factory: the
 * bytes all in-flight captures hold together may not exceed `max`. Taking
 * never blocks; a capture that cannot take what it wants keeps less and is
 * flagged.
 *
 * @example
 * const budget = new CaptureBudget(64 * 1024 * 1024);
 * const got = budget.take(4096); // 0..4096
 */
export class CaptureBudget {
  /** Bytes currently held by captures of this factory. */
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

/**
 * A bounded copy of a byte stream: a head of at most `maxBytes`, optionally
 * a tail of the last `tailBytes`, charged against a shared
 * {@link CaptureBudget}. Only what fits is copied.
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
  private readonly head: Buffer[] = [];
  private tail: Buffer[] = [];
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
   * chunk), kept as is when it fits whole instead of being copied again.
   */
  add(bytes: Buffer, owned = false): void {
    const n = bytes.length;
    if (n === 0 || this.finished) return;
    this.totalBytes += n;
    let offset = 0;
    if (this.headOpen) {
      const room = this.maxBytes - this.headBytes;
      const wanted = Math.min(room, n);
      const granted = wanted > 0 ? this.budget.take(wanted) : 0;
      if (granted > 0) {
        this.head.push(owned && granted === n ? bytes : Buffer.from(bytes.subarray(0, granted)));
        this.headBytes += granted;
      }
      offset = granted;
      if (granted < wanted) {
        this.budgetExceeded = true;
        this.headOpen = false;
      } else if (this.headBytes >= this.maxBytes) {
        this.headOpen = false;
      }
      if (offset === n) return;
    }
    this.addTail(bytes, offset);
  }

  private addTail(bytes: Buffer, offset: number): void {
    const rest = bytes.length - offset;
    if (!this.tailOpen) {
      this.truncated = true;
      return;
    }
    const keep = Math.min(rest, this.tailBytes);
    const dropped = rest - keep;
    if (dropped > 0) this.truncated = true;
    // Make room first, so the budget sees only what is kept.
    this.trimTail(this.tailBytes - keep);
    const granted = this.budget.take(keep);
    if (granted < keep) {
      this.budget.give(granted);
      this.budgetExceeded = true;
      this.truncated = true;
      this.dropTail();
      return;
    }
    this.tail.push(Buffer.from(bytes.subarray(bytes.length - keep)));
    this.tailHeld += keep;
  }

  /** Drops tail bytes from the front until at most `limit` are held. */
  private trimTail(limit: number): void {
    while (this.tailHeld > limit) {
      const first = this.tail[0]!;
      const excess = this.tailHeld - limit;
      this.truncated = true;
      if (first.length <= excess) {
        this.tail.shift();
        this.tailHeld -= first.length;
        this.budget.give(first.length);
      } else {
        this.tail[0] = first.subarray(excess);
        this.tailHeld -= excess;
        this.budget.give(excess);
      }
    }
  }

  private dropTail(): void {
    this.budget.give(this.tailHeld);
    this.tail = [];
    this.tailHeld = 0;
    this.tailOpen = false;
  }

  /**
   * Stops capturing and returns what was kept. The bytes stay charged to the
   * budget until {@link release}.
   */
  finish(): CaptureResult {
    this.finished = true;
    let body = this.head.length === 1 ? this.head[0]! : Buffer.concat(this.head, this.headBytes);
    let tail = this.tail.length === 1 ? this.tail[0]! : Buffer.concat(this.tail, this.tailHeld);
    // A tail that continues the head without a gap is part of the body.
    if (!this.truncated && tail.length > 0) {
      body = Buffer.concat([body, tail]);
      tail = Buffer.alloc(0);
    }
    const truncated = this.truncated || this.capturedBytes < this.totalBytes;
    return {
      body,
      tail,
      totalBytes: this.totalBytes,
      capturedBytes: this.capturedBytes,
      truncated,
      budgetExceeded: this.budgetExceeded,
    };
  }

  /** Gives the captured bytes back to the budget (idempotent). */
  release(): void {
    const held = this.headBytes + this.tailHeld;
    this.headBytes = 0;
    this.tailHeld = 0;
    this.head.length = 0;
    this.tail = [];
    this.finished = true;
    this.budget.give(held);
  }
}
