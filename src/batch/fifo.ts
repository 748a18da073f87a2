/** Slots per chunk: large enough that chunk hops are rare, small enough that a short queue stays small. */
const CHUNK = 1024;

interface Chunk<T> {
  /** Grown by `push()` up to {@link CHUNK} slots, so a queue of one item holds a one-slot array. */
  items: (T | undefined)[];
  next: Chunk<T> | undefined;
}

/**
 * A first-in first-out queue with O(1) `push()` and `shift()` at any length:
 * a linked list of array chunks, read from the head chunk and written to the
 * tail one. `Array.prototype.shift()` moves every remaining element, so a
 * queue of n items drained one by one costs O(n²); this one costs O(n).
 * Read slots are cleared, so a shifted item is not kept alive by the queue.
 *
 * @example
 * const waiters = new Fifo<Waiter>();
 * waiters.push(waiter);
 * const first = waiters.shift();
 */
export class Fifo<T> {
  private head: Chunk<T> = { items: [], next: undefined };
  private tail: Chunk<T> = this.head;
  /** Next slot to read in `head`. */
  private read = 0;
  private size = 0;

  /** Items in the queue. */
  get length(): number {
    return this.size;
  }

  /** Adds `item` at the end. */
  push(item: T): void {
    let tail = this.tail;
    if (tail.items.length === CHUNK) {
      tail = { items: [], next: undefined };
      this.tail.next = tail;
      this.tail = tail;
    }
    tail.items.push(item);
    this.size++;
  }

  /** Removes and returns the first item, or `undefined` when empty. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const head = this.head;
    const item = head.items[this.read];
    head.items[this.read] = undefined;
    this.read++;
    this.size--;
    if (this.size === 0) {
      // Empty, so head is the tail: start it over (a queue that empties often allocates nothing).
      head.items.length = 0;
      this.read = 0;
    } else if (this.read === CHUNK) {
      this.head = head.next!;
      this.read = 0;
    }
    return item;
  }

  /** Removes every item and returns them in order (for refusing all waiters at once). */
  drain(): T[] {
    const all: T[] = [];
    while (this.size > 0) all.push(this.shift()!);
    return all;
  }
}
