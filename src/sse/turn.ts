/**
 * A time slice shared by every stream in the process, so a fast client (or
 * a loop of `await send()` whose promises resolve in microtasks) cannot keep
 * the event loop to itself: once sending has run for {@link SLICE_MS}
 * without the loop turning, the next send resolves on `setImmediate`
 * instead, letting timers, I/O and other clients run. The clock is read
 * every {@link CHECK_EVERY} calls only; at most one `setImmediate` per slice.
 */

/** Continuous sending allowed before giving the loop a turn, in ms. */
export const SLICE_MS = 5;
/** How many paced calls between two reads of the clock. */
export const CHECK_EVERY = 8;

/**
 * Benchmarks only: `STREAMGUARD_SSE_NO_YIELD=1` (read once, at load) turns
 * the slice off, to measure the behaviour before it (bench/sse/export.ts).
 */
const YIELDING = process.env.STREAMGUARD_SSE_NO_YIELD !== '1';

let inSlice = false;
let sliceStart = 0;
let calls = 0;
let turn: Promise<void> | undefined;

function endSlice(): void {
  inSlice = false;
}

function waitTurn(resolve: () => void): void {
  setImmediate(function turned() {
    turn = undefined;
    resolve();
  });
}

/**
 * Whether the current slice is used up: the caller should `await nextTurn()`
 * before going on. Cheap: a counter, and `performance.now()` every few calls.
 *
 * @example
 * for (const row of rows) {
 *   if (sliceSpent()) await nextTurn();
 *   write(row);
 * }
 */
export function sliceSpent(): boolean {
  if (!YIELDING) return false;
  if (!inSlice) {
    // The slice ends when the loop reaches its check phase (queued before any yield in it).
    inSlice = true;
    sliceStart = performance.now();
    calls = 0;
    setImmediate(endSlice).unref();
    return false;
  }
  if (++calls < CHECK_EVERY) return false;
  calls = 0;
  return performance.now() - sliceStart >= SLICE_MS;
}

/**
 * A promise that resolves on the loop's next check phase (one shared
 * `setImmediate` for every caller of the same slice).
 *
 * @example
 * if (sliceSpent()) await nextTurn();
 */
export function nextTurn(): Promise<void> {
  if (turn === undefined) turn = new Promise<void>(waitTurn);
  return turn;
}

/**
 * `resolved` while the slice lasts, else {@link nextTurn}: what a send that
 * needed no wait returns.
 *
 * @example
 * return paced(RESOLVED);
 */
export function paced(resolved: Promise<void>): Promise<void> {
  return sliceSpent() ? nextTurn() : resolved;
}
