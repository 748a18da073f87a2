/**
 * Kept for the benchmarks' imports only: {@link shareShape} lives in `./internals` with every
 * other private internal. Import it from there.
 *
 * @example
 * import { shareShape } from './internals';
 */
export { shareShape } from './internals.js';
