import { FIRST_LEASE, UNKNOWN_START } from './reader.js';

/** What {@link leasePeak} needs from a pool: its size classes. */
export interface SizeClasses {
  classFor(size: number): number;
}

/**
 * The most bytes one body of `limit` bytes holds at once while its lease
 * grows: the reader starts small and, when the bytes no longer fit, leases
 * the next class (twice the current one, capped by the limit) and copies
 * over before giving the old one back, so for a moment it holds both. With
 * power-of-two classes that is 1.5 × the class of `limit`; above the pool's
 * `maxClass` (exact sizes) it is up to 2 × `limit`. The largest of these
 * moments is the last growth step, whatever the Content-Length was.
 *
 * @example
 * leasePeak(new BufferPool({ maxClass: '100mb' }), 100 * 2 ** 20); // 192 MiB (64 + 128)
 */
export function leasePeak(pool: SizeClasses, limit: number): number {
  // The smaller first lease (unknown length) makes the longest chain of classes.
  let capacity = pool.classFor(Math.min(limit, UNKNOWN_START, FIRST_LEASE));
  let peak = capacity;
  while (capacity < limit) {
    const grown = pool.classFor(Math.max(capacity + 1, Math.min(limit, capacity * 2)));
    peak = Math.max(peak, capacity + grown);
    capacity = grown;
  }
  return peak;
}

const UNITS: readonly [number, string][] = [
  [2 ** 40, 'tb'],
  [2 ** 30, 'gb'],
  [2 ** 20, 'mb'],
  [2 ** 10, 'kb'],
];

/**
 * A byte count the way options are written (`'192mb'`, `'1.5kb'`, `'512b'`),
 * for error messages.
 *
 * @example
 * showBytes(192 * 2 ** 20); // '192mb'
 */
export function showBytes(n: number): string {
  for (const [size, unit] of UNITS) {
    if (n >= size) return `${Math.round((n / size) * 100) / 100}${unit}`;
  }
  return `${n}b`;
}
