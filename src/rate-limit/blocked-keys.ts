import { Chain, type Link } from './chain.js';

/**
 * A key in the penalty box, as this process last heard from the store.
 *
 * @example
 * const block: BlockedKey | undefined = blocked.get('1.2.3.4', Date.now());
 * if (block !== undefined) console.log('blocked for', block.until - Date.now(), 'ms');
 */
export interface BlockedKey extends Link {
  readonly key: string;
  /** When the block ends (this process's clock, epoch ms). */
  until: number;
  /** When the bucket is full again (epoch ms), for the headers. */
  resetAt: number;
}

/** How many of the oldest entries an insertion inspects for ended blocks. */
const SWEEP = 4;

/**
 * Attack mode: the keys a store put in the penalty box, remembered in
 * process until their block ends, so a flood from blocked clients is
 * rejected without a store round trip (rate-limiter-flexible's in-memory
 * block). A rejection while blocked changes nothing in the store, so the
 * answers are the same. Bounded: past `max` keys the least recently seen
 * goes (it is asked about in the store again, nothing worse). O(1) per call.
 *
 * @example
 * const blocked = new BlockedKeys(10_000);
 * blocked.add('1.2.3.4', Date.now() + 60_000, Date.now() + 3_000);
 * blocked.get('1.2.3.4', Date.now()); // { until, resetAt, … }
 */
export class BlockedKeys {
  private readonly keys = new Map<string, BlockedKey>();
  private readonly order = new Chain<BlockedKey>();

  constructor(readonly max: number) {}

  /** Keys remembered (some may have ended their block and not been dropped yet). */
  get size(): number {
    return this.keys.size;
  }

  /** The key's block if it is still on at `now`; an ended one is forgotten. */
  get(key: string, now: number): BlockedKey | undefined {
    const entry = this.keys.get(key);
    if (entry === undefined) return undefined;
    if (entry.until > now) return entry;
    this.drop(entry);
    return undefined;
  }

  /** Remembers (or refreshes) a block; the newest end of the order. */
  add(key: string, until: number, resetAt: number, now: number): void {
    let entry = this.keys.get(key);
    if (entry === undefined) {
      for (let i = 0; i < SWEEP; i++) {
        const oldest = this.order.head;
        if (oldest === null || oldest.until > now) break;
        this.drop(oldest);
      }
      if (this.keys.size >= this.max && this.order.head !== null) this.drop(this.order.head);
      entry = { key, until, resetAt, prev: null, next: null, chain: null };
      this.keys.set(key, entry);
    } else {
      entry.until = until;
      entry.resetAt = resetAt;
    }
    this.order.push(entry);
  }

  /** Forgets every key. */
  clear(): void {
    this.keys.clear();
    this.order.clear();
  }

  private drop(entry: BlockedKey): void {
    this.order.remove(entry);
    this.keys.delete(entry.key);
  }
}
