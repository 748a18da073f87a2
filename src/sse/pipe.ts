import { Readable } from 'node:stream';
import { nextTurn, sliceSpent } from './turn.js';

/** What `pipe()` accepts: an async (or sync) iterable, a Node Readable, or a web ReadableStream. */
export type PipeSource<T> = AsyncIterable<T> | Iterable<T> | Readable | ReadableStream<T>;

/** Options of `pipe()`. */
export interface PipeOptions<T, E> {
  /** Turns each item into what is sent (an event for SSE, a JSON value for NDJSON); `undefined` skips the item. May be async. */
  map?: (item: T) => E | undefined | Promise<E | undefined>;
  /** SSE only: the event type of every event that does not set its own. */
  event?: string;
}

const ABORTED = Symbol('aborted');
type Step<T> = IteratorResult<T> | typeof ABORTED;

function ignore(): void {}

interface Cursor<T> {
  next(): Promise<IteratorResult<T>>;
  cancel(): void;
}

function isWebStream<T>(source: PipeSource<T>): source is ReadableStream<T> {
  return typeof (source as ReadableStream<T>).getReader === 'function';
}

function webCursor<T>(stream: ReadableStream<T>, signal: AbortSignal): Cursor<T> {
  const reader = stream.getReader();
  return {
    next: function readNext() {
      return reader.read() as Promise<IteratorResult<T>>;
    },
    cancel: function cancelReader() {
      reader.cancel(signal.reason).catch(ignore);
    },
  };
}

function readableCursor<T>(stream: Readable): Cursor<T> {
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<T>;
  return {
    next: function readNext() {
      return iterator.next();
    },
    cancel: function destroyReadable() {
      stream.destroy();
    },
  };
}

function iterableCursor<T>(source: AsyncIterable<T> | Iterable<T>): Cursor<T> {
  const iterator: AsyncIterator<T> | Iterator<T> =
    Symbol.asyncIterator in source
      ? (source as AsyncIterable<T>)[Symbol.asyncIterator]()
      : (source as Iterable<T>)[Symbol.iterator]();
  return {
    next: async function nextItem() {
      return iterator.next();
    },
    cancel: function returnIterator() {
      try {
        const r = iterator.return?.();
        if (r instanceof Promise) r.catch(ignore);
      } catch {
        // A throwing return() has nothing left to clean.
      }
    },
  };
}

function cursorFor<T>(source: PipeSource<T>, signal: AbortSignal): Cursor<T> {
  if (source instanceof Readable) return readableCursor<T>(source);
  if (isWebStream(source)) return webCursor(source, signal);
  if (
    typeof source === 'object' &&
    source !== null &&
    (Symbol.asyncIterator in source || Symbol.iterator in source)
  )
    return iterableCursor(source as AsyncIterable<T> | Iterable<T>);
  throw new TypeError(
    'pipe() source must be an async iterable, a Node Readable or a ReadableStream',
  );
}

/**
 * Feeds every item of `source` to `sendItem`, one at a time (each awaited,
 * so a slow client slows the source instead of filling memory); cancels or
 * destroys the source when `signal` aborts. `true` when the source ended.
 */
export async function pipeSource<T>(
  source: PipeSource<T>,
  signal: AbortSignal,
  sendItem: (item: T) => Promise<void>,
): Promise<boolean> {
  const cursor = cursorFor(source, signal);
  if (signal.aborted) {
    cursor.cancel();
    return false;
  }
  // One abort listener per pipe; it settles only the read in flight. (Racing every read against
  // one long-lived promise left a reaction on it per item, holding every item until the pipe ended.)
  let wake: ((step: Step<T>) => void) | undefined;
  function onAbort(): void {
    cursor.cancel();
    wake?.(ABORTED);
  }
  function nextStep(): Promise<Step<T>> {
    return new Promise<Step<T>>(function readOrAbort(resolve, reject) {
      wake = resolve;
      cursor.next().then(resolve, reject);
    });
  }
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      const step = await nextStep();
      wake = undefined;
      // A cancelled web stream (or returned iterator) reads as done: the source did not end, the stream closed.
      if (step === ABORTED || signal.aborted) return false;
      if (step.done === true) return true;
      // Items skipped by map() or read from a buffered source never wait: give the loop its turn.
      if (sliceSpent()) await nextTurn();
      try {
        await sendItem(step.value);
      } catch (err) {
        if (signal.aborted) return false;
        cursor.cancel();
        throw err;
      }
    }
  } catch (err) {
    if (signal.aborted) return false;
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
