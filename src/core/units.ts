import bytes from 'bytes';
import ms from 'ms';

/**
 * Parses a byte size the way body-parser's `limit` does: a non-negative
 * integer, or a string for the `bytes` package (`'1mb'`, `'64kb'`, `'512'`).
 * Throws a `TypeError` naming the option otherwise.
 *
 * @example
 * parseBytes('1mb', 'limit'); // 1048576
 */
export function parseBytes(value: unknown, option: string): number {
  const n = typeof value === 'string' ? bytes.parse(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new TypeError(
      `option ${option} must be a byte size (a non-negative integer or a string like '1mb'), got ${show(value)}`,
    );
  }
  return n;
}

/**
 * Parses a duration in milliseconds: a non-negative finite number, or a string
 * for the `ms` package (`'30s'`, `'5m'`, `'250ms'`). Throws a `TypeError`
 * naming the option otherwise.
 *
 * @example
 * parseDuration('30s', 'writeTimeout'); // 30000
 */
export function parseDuration(value: unknown, option: string): number {
  let n: unknown = value;
  if (typeof value === 'string') {
    try {
      n = ms(value as Parameters<typeof ms>[0]);
    } catch {
      n = undefined;
    }
  }
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new TypeError(
      `option ${option} must be a duration (milliseconds or a string like '30s'), got ${show(value)}`,
    );
  }
  return n;
}

/** A short, safe rendering of a bad option value for error messages. */
export function show(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'function') return 'a function';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return String(value);
}
