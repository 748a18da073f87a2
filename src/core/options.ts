import { show } from './units.js';

/**
 * Checks that a factory's options are absent or a plain object with no
 * unknown keys (a typo such as `maxByte` throws instead of being ignored).
 * Returns the object to read from; the caller's object is never mutated.
 *
 * @example
 * const o = readOptions(options, 'rateLimit', ['rate', 'burst']);
 */
export function readOptions<T extends object>(
  options: T | undefined,
  factory: string,
  known: readonly (keyof T & string)[],
): Partial<T> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new TypeError(`${factory}() options must be an object, got ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!(known as readonly string[]).includes(key)) {
      throw new TypeError(
        `${factory}() got unknown option ${key}; known options: ${known.join(', ')}`,
      );
    }
  }
  return options;
}

/**
 * An optional function option.
 *
 * @example
 * const onFinish = functionOption(o.onFinish, 'onFinish');
 */
export function functionOption<F extends (...args: never[]) => unknown>(
  value: F | undefined,
  option: string,
): F | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function')
    throw new TypeError(`option ${option} must be a function, got ${show(value)}`);
  return value;
}

/**
 * An integer option within bounds, with a default.
 *
 * @example
 * const burst = integerOption(o.burst, 'burst', 30, 1);
 */
export function integerOption(
  value: unknown,
  option: string,
  fallback: number,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw new TypeError(`option ${option} must be an integer ${range}, got ${show(value)}`);
  }
  return value;
}

/**
 * A positive finite number option, with a default.
 *
 * @example
 * const rate = numberOption(o.rate, 'rate', 10);
 */
export function numberOption(
  value: unknown,
  option: string,
  fallback: number,
  min = 0,
  exclusiveMin = true,
): number {
  if (value === undefined) return fallback;
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < min ||
    (exclusiveMin && value === min)
  ) {
    throw new TypeError(
      `option ${option} must be a number ${exclusiveMin ? '>' : '>='} ${min}, got ${show(value)}`,
    );
  }
  return value;
}

/**
 * A boolean option, with a default.
 *
 * @example
 * const coalesce = booleanOption(o.coalesce, 'coalesce', false);
 */
export function booleanOption(value: unknown, option: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean')
    throw new TypeError(`option ${option} must be a boolean, got ${show(value)}`);
  return value;
}

/**
 * One of a fixed set of strings, with a default.
 *
 * @example
 * const overflow = enumOption(o.overflow, 'overflow', ['wait', 'drop', 'close'] as const, 'wait');
 */
export function enumOption<const T extends string>(
  value: unknown,
  option: string,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new TypeError(
      `option ${option} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(value)}`,
    );
  }
  return value as T;
}
