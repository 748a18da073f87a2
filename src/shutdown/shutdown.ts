import type { Server } from 'node:http';
import { finishWorkSettled } from '../core/finish-work.js';
import { CHANNELS, publisher, type ShutdownMessage } from '../core/instrument.js';
import { type Logger, loggerOption } from '../core/logger.js';
import { readOptions } from '../core/options.js';
import { runShutdownHooks } from '../core/shutdown-hooks.js';
import { parseDuration } from '../core/units.js';
import { closeWithin, type NamedWork, nextTurn, settlesWithin } from './bounded.js';
import { closeKeepAlive } from './keep-alive.js';

/** Something with a graceful close: an SSE channel (`close()` sends each stream a final event and refuses new publishes). */
export interface ClosableChannel {
  close(): Promise<unknown>;
}

/** Something that flushes on close: a batcher. */
export interface ClosableBatcher {
  close(): Promise<unknown>;
}

/**
 * Options for {@link shutdown}.
 *
 * @example
 * await shutdown(server, { channels: [prices], batchers: [audit], timeout: '10s' });
 */
export interface ShutdownOptions {
  /** SSE channels: each sends its streams a final event, closes them, and refuses later publishes (so none is acknowledged and then lost). */
  channels?: readonly ClosableChannel[];
  /** Batchers: flushed after the last response finished, so records written on finish are kept. */
  batchers?: readonly ClosableBatcher[];
  /**
   * How long the channels' closes and the in-flight responses may take before connections are
   * closed by force (ms or `'10s'`). Default `'10s'`.
   */
  timeout?: number | string;
  /**
   * After the responses are done (or forced), how long their finish work (tee records) may take,
   * and then how long the batchers' flushes may take (ms or `'5s'`, each), so the whole shutdown
   * takes at most `timeout + 2 × flushTimeout`. Default `'5s'`.
   */
  flushTimeout?: number | string;
  /** Where a failing, or unfinished, channel or batcher close is reported. */
  logger?: Logger;
}

/**
 * What {@link shutdown} resolves with.
 *
 * @example
 * const { forced } = await shutdown(server);
 */
export interface ShutdownResult {
  /** Something did not finish in time: connections closed by force, or a close given up on (see `unfinished`). */
  forced: boolean;
  /** How long it took, in milliseconds. */
  durationMs: number;
  /**
   * What did not finish in time: `'connections'` (closed by force at `timeout`), `'channels[i]'`,
   * `'finish work'` (responses' records still being built at `flushTimeout`), `'batchers[i]'`.
   * Empty when nothing was forced.
   */
  unfinished: string[];
}

const publishShutdown = publisher<ShutdownMessage>(CHANNELS.shutdown);

/**
 * Shuts a server down without losing work: stops accepting connections,
 * closes idle keep-alive connections (and marks every response not yet
 * started `Connection: close`, so no client reuses a connection about to close), tells open SSE streams of this server
 * and the given channels to send a final event and close (so clients
 * reconnect elsewhere), waits for in-flight responses, then for their finish
 * work (tee records), then flushes the batchers, and resolves. Every wait is
 * bounded: channels and responses by `timeout` (connections still open then
 * are closed by force), then finish work by `flushTimeout`, then batcher
 * flushes by `flushTimeout`. Whatever did not finish is logged, listed in `unfinished`, and
 * makes `forced` true; the records of responses closed by force still reach
 * the batchers.
 *
 * @example
 * process.once('SIGTERM', async () => {
 *   const { forced } = await shutdown(server, { channels: [events], batchers: [audit] });
 *   process.exit(forced ? 1 : 0);
 * });
 */
export async function shutdown(server: Server, options?: ShutdownOptions): Promise<ShutdownResult> {
  const o = readOptions(options, 'shutdown', [
    'channels',
    'batchers',
    'timeout',
    'flushTimeout',
    'logger',
  ]);
  const channels = listOption(o.channels, 'channels', 'close');
  const batchers = listOption(o.batchers, 'batchers', 'close');
  const timeout = parseDuration(o.timeout ?? '10s', 'timeout');
  const flushTimeout = parseDuration(o.flushTimeout ?? '5s', 'flushTimeout');
  const logger = loggerOption(o.logger);
  const started = performance.now();
  const deadline = started + timeout;
  const unfinished: string[] = [];

  const closed = new Promise<void>(function waitForClose(resolve) {
    if (!server.listening) resolve();
    server.close(function serverClosed() {
      resolve();
    });
  });
  server.closeIdleConnections();
  const stopMarking = closeKeepAlive(server);
  publishShutdown({ server });
  // Channels first, so their streams get the channel's final event; then any other open stream.
  unfinished.push(
    ...(await closeWithin(
      named(channels, 'channels'),
      deadline - performance.now(),
      logger,
      'a channel failed to close',
      `timeout (${timeout} ms)`,
    )),
  );
  runShutdownHooks(server);

  // Keep-alive connections become idle as their last response ends: close them as they do.
  const sweeper = setInterval(function closeIdle() {
    server.closeIdleConnections();
  }, 50);
  sweeper.unref();
  const drained = await settlesWithin(closed, deadline - performance.now());
  clearInterval(sweeper);
  stopMarking();
  if (!drained) {
    server.closeAllConnections();
    unfinished.push('connections');
  }

  // The responses' finish work: destroyed connections emit 'close' (and so do their responses)
  // in the event loop's close phase, and work scheduled from there (a tee record, built on the
  // next turn) then runs; middlewares that hold finish work on the server are waited for too.
  const finishDeadline = performance.now() + flushTimeout;
  for (let turn = 0; turn < SETTLE_TURNS; turn++) await nextTurn();
  if (!(await settlesWithin(finishWorkSettled(server), finishDeadline - performance.now()))) {
    logger.warn(`shutdown: finish work did not settle within flushTimeout (${flushTimeout} ms)`);
    unfinished.push('finish work');
  }
  // The batchers get their own flushTimeout, so finish work that hangs cannot leave them no time.
  unfinished.push(
    ...(await closeWithin(
      named(batchers, 'batchers'),
      flushTimeout,
      logger,
      'a batcher failed to flush',
      `flushTimeout (${flushTimeout} ms)`,
    )),
  );
  return { forced: unfinished.length > 0, durationMs: performance.now() - started, unfinished };
}

/**
 * Turns of the event loop given to finish work after the connections ended, for middlewares
 * that do not hold finish work on the server: one to pass the close phase of the turn the
 * connections were destroyed in (their responses' 'close' events), one for work scheduled from
 * there with setImmediate (a tee record is built and handed to onFinish then), one for what that
 * work schedules in turn, and one of margin. Work that takes longer (a decoded tee copy, an
 * async onFinish) is waited for only when held with `holdFinishWork()`.
 */
const SETTLE_TURNS = 4;

function named(
  list: readonly Record<'close', () => Promise<unknown>>[],
  option: string,
): NamedWork[] {
  return list.map((item, i) => ({
    name: `${option}[${i}]`,
    start: function startClose() {
      return item.close();
    },
  }));
}

function listOption<K extends string>(
  value: unknown,
  option: string,
  method: K,
): Record<K, () => Promise<unknown>>[] {
  if (value === undefined) return [];
  if (
    !Array.isArray(value) ||
    value.some((v) => typeof v !== 'object' || v === null || typeof v[method] !== 'function')
  ) {
    throw new TypeError(`option ${option} must be an array of objects with a ${method}() method`);
  }
  return value as Record<K, () => Promise<unknown>>[];
}
