import { deferred, handled } from '../core/deferred.js';
import { HttpError } from '../core/errors.js';
import { type BatchFlushMessage, CHANNELS, publisher } from '../core/instrument.js';
import { callSafely, loggerOption } from '../core/logger.js';
import { enumOption, functionOption, integerOption, readOptions } from '../core/options.js';
import { parseDuration } from '../core/units.js';
import { Fifo } from './fifo.js';
import type { Batcher, BatcherOptions, BatcherStats, FlushReason } from './types.js';

/** An `add()` waiting for room: its item and how to settle its promise (no closures of its own). */
interface Waiter<T> {
  item: T;
  resolve: (settled: Promise<void>) => void;
  reject: (error: unknown) => void;
}

/** The one promise every `ready()` call shares until there is room (or the batcher closes). */
interface RoomSignal {
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * A batch: its items and the one promise every `add()` of it returns, so an
 * item costs an array slot, not a promise of its own.
 */
interface Batch<T> {
  items: T[];
  reason: FlushReason;
  settled: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** One key's queue: the batch being filled, cut batches waiting their turn, and whether one runs. */
interface KeyQueue<T> {
  key: string;
  open: Batch<T> | undefined;
  ready: Fifo<Batch<T>>;
  running: boolean;
  /** Waiting in `turns` for a concurrency slot. */
  queued: boolean;
  timer: NodeJS.Timeout | undefined;
}

const publishFlush = publisher<BatchFlushMessage>(CHANNELS.batchFlush);

/**
 * Creates a per-key batcher, the write-behind queue of the seed's
 * per-connection channels done right: a queue per key created on first use,
 * a batch cut at `maxSize` items or `maxWait` after its first item (one timer
 * per waiting key, no polling), batches of one key handled in order and one
 * at a time, keys independent of each other, at most `maxPending` items held
 * in total and at most `maxWaiting` adds waiting for room, idle keys dropped
 * at once. `add()` settles with its batch's outcome; a failing handler
 * rejects only that batch's promises (and is logged), and an `add()` nobody
 * awaits never becomes an unhandled rejection. `ready()` lets a producer wait
 * for room without waiting for its batch. While items wait for their batch
 * to be cut, its timer keeps the process alive, so a process whose work is
 * done still hands them to the handler before it exits. Every queue is O(1)
 * per item, however long the backlog.
 *
 * @example
 * const audit = createBatcher<AuditRecord>({
 *   key: (r) => r.tenant,
 *   maxSize: 100,
 *   maxWait: '1s',
 *   handler: (tenant, rows) => db.insertMany(tenant, rows),
 * });
 * await audit.add({ tenant: 'acme', action: 'login' });
 *
 * // A producer that does not wait for each batch, but waits for room:
 * for await (const row of source) {
 *   await audit.ready();
 *   void audit.add(row);
 * }
 * await audit.close(); // on shutdown: nothing accepted is lost
 */
export function createBatcher<T>(options: BatcherOptions<T>): Batcher<T> {
  const o = readOptions(options, 'createBatcher', [
    'handler',
    'key',
    'maxSize',
    'maxWait',
    'maxPending',
    'onFull',
    'maxWaiting',
    'concurrency',
    'logger',
  ]);
  const handlerOption = functionOption(o.handler, 'handler');
  if (handlerOption === undefined)
    throw new TypeError('option handler must be a function, got undefined');
  const handler = handlerOption;
  const keyOf = functionOption(o.key, 'key') ?? defaultKey;
  const maxSize = integerOption(o.maxSize, 'maxSize', 100, 1);
  const maxWait = parseDuration(o.maxWait ?? '1s', 'maxWait');
  const maxPending = integerOption(o.maxPending, 'maxPending', 10_000, 1);
  const onFull = enumOption(o.onFull, 'onFull', ['wait', 'reject'] as const, 'wait');
  // Waiters hold their item (and a promise), so they are bounded like pending items: by default
  // as many as maxPending, so a stalled handler holds at most twice maxPending items.
  const maxWaiting = integerOption(o.maxWaiting, 'maxWaiting', maxPending, 0);
  const concurrency =
    o.concurrency === Number.POSITIVE_INFINITY
      ? Infinity
      : integerOption(o.concurrency, 'concurrency', Infinity, 1);
  const logger = loggerOption(o.logger);

  const queues = new Map<string, KeyQueue<T>>();
  const turns = new Fifo<KeyQueue<T>>();
  const roomWaiters = new Fifo<Waiter<T>>();
  const idleWaiters: (() => void)[] = [];
  let roomSignal: RoomSignal | undefined;
  let pending = 0;
  let running = 0;
  let flushed = 0;
  let failed = 0;
  let closed = false;
  let closing: Promise<void> | undefined;

  function queueFor(key: string): KeyQueue<T> {
    let queue = queues.get(key);
    if (queue === undefined) {
      queue = {
        key,
        open: undefined,
        ready: new Fifo(),
        running: false,
        queued: false,
        timer: undefined,
      };
      queues.set(key, queue);
    }
    return queue;
  }

  function accept(item: T): Promise<void> {
    const key = keyOf(item);
    if (typeof key !== 'string')
      throw new TypeError(`createBatcher key() must return a string, got ${typeof key}`);
    const queue = queueFor(key);
    pending++;
    let batch = queue.open;
    if (batch === undefined) {
      batch = newBatch();
      queue.open = batch;
      startTimer(queue);
    }
    batch.items.push(item);
    if (batch.items.length >= maxSize) cut(queue, 'size');
    return batch.settled;
  }

  function startTimer(queue: KeyQueue<T>): void {
    // Deliberately not unref()ed: while items wait for their batch, the process must not exit
    // without handing them over. It exists only while a batch is open, so an idle batcher holds
    // nothing; close() (or flush()) cuts it at once.
    queue.timer = setTimeout(function maxWaitReached() {
      queue.timer = undefined;
      cut(queue, 'time');
    }, maxWait);
  }

  function cut(queue: KeyQueue<T>, reason: FlushReason): void {
    if (queue.timer !== undefined) {
      clearTimeout(queue.timer);
      queue.timer = undefined;
    }
    const batch = queue.open;
    if (batch === undefined) return;
    queue.open = undefined;
    batch.reason = reason;
    queue.ready.push(batch);
    schedule(queue);
  }

  function schedule(queue: KeyQueue<T>): void {
    if (queue.running || queue.queued || queue.ready.length === 0) return;
    queue.queued = true;
    turns.push(queue);
    pump();
  }

  function pump(): void {
    while (running < concurrency && turns.length > 0) {
      const queue = turns.shift()!;
      queue.queued = false;
      const batch = queue.ready.shift();
      if (batch === undefined) continue;
      void run(queue, batch);
    }
  }

  async function run(queue: KeyQueue<T>, batch: Batch<T>): Promise<void> {
    queue.running = true;
    running++;
    const started = performance.now();
    let error: unknown;
    let ok = true;
    try {
      await handler(queue.key, batch.items);
    } catch (thrown) {
      ok = false;
      error = thrown;
    }
    running--;
    queue.running = false;
    const size = batch.items.length;
    publishFlush({
      key: queue.key,
      size,
      reason: batch.reason,
      ok,
      durationMs: performance.now() - started,
    });
    if (ok) {
      flushed++;
      batch.resolve();
    } else {
      failed++;
      callSafely(logger, 'batch', 'handler', function reportFailure() {
        throw error;
      });
      batch.reject(error);
    }
    release(size);
    if (queue.ready.length > 0) schedule(queue);
    else if (queue.open === undefined) queues.delete(queue.key);
    pump();
    if (pending === 0) for (const wake of idleWaiters.splice(0)) wake();
  }

  function release(count: number): void {
    pending -= count;
    // Room goes to waiters first, in arrival order: each is accepted at once, so none is overtaken.
    while (pending < maxPending && roomWaiters.length > 0) admit(roomWaiters.shift()!);
    if (roomSignal !== undefined && hasRoom()) {
      const signal = roomSignal;
      roomSignal = undefined;
      signal.resolve();
    }
  }

  function admit(waiter: Waiter<T>): void {
    try {
      waiter.resolve(accept(waiter.item));
    } catch (error) {
      waiter.reject(error);
    }
  }

  /** Whether an `add()` now would be accepted at once. */
  function hasRoom(): boolean {
    return pending < maxPending && roomWaiters.length === 0;
  }

  function add(item: T): Promise<void> {
    let result: Promise<void>;
    if (closed) result = handled(Promise.reject(closedError('the batcher is closed')));
    else if (hasRoom()) {
      try {
        result = accept(item);
      } catch (error) {
        result = handled(Promise.reject(error));
      }
    } else if (onFull === 'reject') {
      result = handled(
        Promise.reject(
          new HttpError(503, 'batch.full', `the batcher holds ${maxPending} items`, {
            limit: maxPending,
          }),
        ),
      );
    } else if (roomWaiters.length >= maxWaiting) {
      result = handled(
        Promise.reject(
          new HttpError(
            503,
            'batch.full',
            `the batcher holds ${maxPending} items and ${maxWaiting} adds waiting for room`,
            { limit: maxWaiting },
          ),
        ),
      );
    } else result = waitForRoom(item);
    return result;
  }

  function waitForRoom(item: T): Promise<void> {
    const waiting = new Promise<void>(function waitTurn(resolve, reject) {
      roomWaiters.push({ item, resolve, reject });
    });
    return handled(waiting);
  }

  function ready(): Promise<void> {
    if (closed) return handled(Promise.reject(closedError('the batcher is closed')));
    if (hasRoom()) return Promise.resolve();
    if (roomSignal === undefined) roomSignal = newRoomSignal();
    return roomSignal.promise;
  }

  function whenIdle(): Promise<void> {
    if (pending === 0) return Promise.resolve();
    return new Promise((resolve) => idleWaiters.push(resolve));
  }

  function flush(): Promise<void> {
    for (const queue of queues.values()) cut(queue, closed ? 'close' : 'flush');
    return whenIdle();
  }

  function close(): Promise<void> {
    if (closing !== undefined) return closing;
    closed = true;
    for (const waiter of roomWaiters.drain())
      waiter.reject(closedError('the batcher closed before this item found room'));
    if (roomSignal !== undefined) {
      roomSignal.reject(closedError('the batcher closed before there was room'));
      roomSignal = undefined;
    }
    closing = flush();
    return closing;
  }

  function stats(): BatcherStats {
    return { pending, keys: queues.size, running, waiting: roomWaiters.length, flushed, failed };
  }

  return {
    add,
    ready,
    flush,
    close,
    stats,
    get closed() {
      return closed;
    },
  };
}

function defaultKey(): string {
  return 'default';
}

function closedError(message: string): HttpError {
  return new HttpError(503, 'batch.closed', message);
}

function newRoomSignal(): RoomSignal {
  return deferred();
}

function newBatch<T>(): Batch<T> {
  const { promise, resolve, reject } = deferred();
  return { items: [], reason: 'size', settled: promise, resolve, reject };
}
