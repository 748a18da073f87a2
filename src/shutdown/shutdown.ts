import type { Server } from 'node:http';
import { CHANNELS, publisher, type ShutdownMessage } from '../core/instrument';
import { type Logger, loggerOption } from '../core/logger';
import { readOptions } from '../core/options';
import { runShutdownHooks } from '../core/shutdown-hooks';
import { parseDuration } from '../core/units';

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
  /** How long in-flight responses may take before connections are closed by force (ms or `'10s'`). Default `'10s'`. */
  timeout?: number | string;
  /** Where a failing channel or batcher close is reported. */
  logger?: Logger;
}

/**
 * What {@link shutdown} resolves with.
 *
 * @example
 * const { forced } = await shutdown(server);
 */
export interface ShutdownResult {
  /** Connections were still open at the timeout and were closed by force. */
  forced: boolean;
  /** How long it took, in milliseconds. */
  durationMs: number;
}

const publishShutdown = publisher<ShutdownMessage>(CHANNELS.shutdown);

/**
 * Shuts a server down without losing work: stops accepting connections,
 * closes idle keep-alive connections, tells open SSE streams of this server
 * and the given channels to send a final event and close (so clients
 * reconnect elsewhere), waits for in-flight responses, then flushes the
 * batchers, and resolves. Connections still open after `timeout` are closed
 * by force (reported in the result), and the batchers are flushed all the same.
 *
 * @example
 * process.once('SIGTERM', async () => {
 *   const { forced } = await shutdown(server, { channels: [events], batchers: [audit] });
 *   process.exit(forced ? 1 : 0);
 * });
 */
export async function shutdown(server: Server, options?: ShutdownOptions): Promise<ShutdownResult> {
  const o = readOptions(options, 'shutdown', ['channels', 'batchers', 'timeout', 'logger']);
  const channels = listOption(o.channels, 'channels', 'close');
  const batchers = listOption(o.batchers, 'batchers', 'close');
  const timeout = parseDuration(o.timeout ?? '10s', 'timeout');
  const logger = loggerOption(o.logger);
  const started = performance.now();

  const closed = new Promise<void>(function waitForClose(resolve) {
    if (!server.listening) resolve();
    server.close(function serverClosed() {
      resolve();
    });
  });
  server.closeIdleConnections();
  publishShutdown({ server });
  // Channels first, so their streams get the channel's final event; then any other open stream.
  await Promise.all(channels.map((c) => settle(c.close(), logger, 'a channel failed to close')));
  runShutdownHooks(server);

  // Keep-alive connections become idle as their last response ends: close them as they do.
  const sweeper = setInterval(function closeIdle() {
    server.closeIdleConnections();
  }, 50);
  sweeper.unref();
  let timer: NodeJS.Timeout | undefined;
  const forced = await Promise.race([
    closed.then(() => false),
    new Promise<boolean>(function forceAfterTimeout(resolve) {
      timer = setTimeout(function timeoutReached() {
        server.closeAllConnections();
        resolve(true);
      }, timeout);
      timer.unref();
    }),
  ]);
  clearInterval(sweeper);
  clearTimeout(timer);

  // Let work scheduled by the last responses' finish run (e.g. tee records handed to a batcher).
  await new Promise((resolve) => setImmediate(resolve));
  await Promise.all(batchers.map((b) => settle(b.close(), logger, 'a batcher failed to flush')));
  return { forced, durationMs: performance.now() - started };
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

async function settle(work: Promise<unknown>, logger: Logger, message: string): Promise<void> {
  try {
    await work;
  } catch (error) {
    logger.warn(message, error);
  }
}
