import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../core/errors.js';
import { type Logger, loggerOption } from '../core/logger.js';
import { functionOption, integerOption, readOptions } from '../core/options.js';
import type { NextFunction, RequestHandler } from '../core/types.js';
import { type SseEvent, serializeEvent } from './framing.js';
import { MemoryReplayLog } from './memory-replay-log.js';
import { sse } from './middleware.js';
import type { SseOptions } from './options.js';
import type { LoggedEvent, ReplayLog } from './replay-log.js';
import type { SseStream } from './sse-stream.js';

/**
 * Options for {@link createChannel}.
 *
 * @example
 * createChannel({ replay: new RedisStreamLog({ client, key: 'sse:orders' }) });
 */
export interface ChannelOptions {
  /** Where events are kept for replay (and, with Redis, shared across processes). Default `new MemoryReplayLog()`. */
  replay?: ReplayLog;
  /** Events read from the log per replay page. Default 500. */
  replayPage?: number;
  /** Where failures are reported. Default: one line on `console.warn`. */
  logger?: Logger;
}

/**
 * Options for {@link Channel.subscribe}.
 *
 * @example
 * channel.subscribe(stream, { filter: (e) => e.event === 'price' });
 */
export interface SubscribeOptions {
  /** Which events this subscriber gets (live and replayed). Default all. */
  filter?: (event: LoggedEvent) => boolean;
  /** The cursor to replay after. Default: the stream's own `lastEventId` (`Last-Event-ID`). */
  lastEventId?: string;
}

/**
 * Options for {@link Channel.closeAll}.
 *
 * @example
 * await channel.closeAll({ goAway: true });
 */
export interface CloseAllOptions {
  /** The last event each stream gets before it closes. Default `{ event: 'close', data: 'reconnect' }`. */
  final?: SseEvent;
  /** Refuse new subscriptions from now on: `handler()` answers 204, which tells browsers not to reconnect. Default false. */
  goAway?: boolean;
}

/**
 * A broadcast channel with a replay log: see {@link createChannel}.
 *
 * @example
 * const id = await channel.publish({ event: 'price', data: { sym: 'ACME', px: 12.5 } });
 */
export interface Channel {
  /** Stores the event in the log and delivers it to every subscriber (in every process sharing the log). Resolves with its id; rejects if the log fails. */
  publish(event: { data: unknown; event?: string }): Promise<string>;
  /** Replays what the stream missed (strictly after its cursor), then delivers live events with no gap and no duplicate. Resolves once live. */
  subscribe(stream: SseStream, options?: SubscribeOptions): Promise<void>;
  /** A route handler: opens an event stream (`sse(options)`) and subscribes it; 204 once the channel said go away. */
  handler(options?: SseOptions): RequestHandler;
  /** Sends every stream a final event and closes it, so clients reconnect (elsewhere). */
  closeAll(options?: CloseAllOptions): Promise<void>;
  /** Closes every stream and stops listening to the log (does not close the log). */
  close(): Promise<void>;
  /** Streams subscribed now. */
  readonly size: number;
}

interface Subscriber {
  stream: SseStream;
  filter: ((event: LoggedEvent) => boolean) | undefined;
  /** Live events that arrived while the replay was being written (at most `replayPage`). */
  pending: LoggedEvent[] | undefined;
  /** Live events arrived past the pending bound and were not kept: the replay reads them from the log. */
  overflowed: boolean;
  /**
   * The last id the replay wrote, while the log's tail may still lag behind
   * it (Redis): live events up to it are skipped, then it is cleared (the tail
   * is ordered, so one newer event ends the window).
   */
  skipThrough: string | undefined;
}

const RESET_DATA = 'the events since your last event id are no longer available; resync';
const RESET_EVENT = serializeEvent({ event: 'reset', data: RESET_DATA });

/** The `reset` event, carrying the id the log says the client now stands at (when it said one). */
function resetFrame(at: string | undefined): string {
  return at === undefined
    ? RESET_EVENT
    : serializeEvent({ event: 'reset', id: at, data: RESET_DATA });
}

/**
 * Creates a channel that broadcasts events to many SSE streams, each
 * isolated (a slow or dead client is handled by its own stream's budget and
 * overflow policy and never slows the others), with a replay log so a
 * client reconnecting with `Last-Event-ID` misses nothing: replay strictly
 * after its cursor, then live, with no gap and no duplicate. Each event is
 * serialised once and the same text is written to every subscriber. Ids
 * come from the log (monotonic per channel). A cursor the log no longer
 * covers, or does not recognise, gets one `reset` event. With a
 * `RedisStreamLog` every process sharing the key delivers every event.
 *
 * @example
 * const prices = createChannel({ replay: new MemoryReplayLog({ maxEvents: 1000 }) });
 * app.get('/prices', prices.handler({ heartbeat: '15s' }));
 * setInterval(() => prices.publish({ event: 'price', data: quote() }), 1000);
 */
export function createChannel(options?: ChannelOptions): Channel {
  const o = readOptions(options, 'createChannel', ['replay', 'replayPage', 'logger']);
  const log = o.replay ?? new MemoryReplayLog();
  if (
    typeof log !== 'object' ||
    log === null ||
    typeof log.append !== 'function' ||
    typeof log.tail !== 'function'
  ) {
    throw new TypeError('option replay must be a ReplayLog (MemoryReplayLog or RedisStreamLog)');
  }
  const replayPage = integerOption(o.replayPage, 'replayPage', 500, 1);
  const logger = loggerOption(o.logger);
  const subscribers = new Set<Subscriber>();
  let listening: Promise<() => void> | undefined;
  let gone = false;
  let closed = false;

  /** Starts (once, and again after a failure) the log's tail that feeds every subscriber. */
  function listen(): Promise<() => void> {
    if (listening === undefined) {
      listening = log.tail(deliver, onTailError);
      listening.catch(function tailFailedToStart() {
        listening = undefined;
      });
    }
    return listening;
  }

  function deliver(event: LoggedEvent): void {
    let frame: string | undefined;
    for (const s of subscribers) {
      if (s.filter !== undefined && !accepts(s, event)) continue;
      if (s.pending !== undefined) {
        // Bounded: past one page, the log (which holds them) is read again instead.
        if (s.pending.length < replayPage) s.pending.push(event);
        else s.overflowed = true;
        continue;
      }
      if (s.skipThrough !== undefined) {
        if (log.compare(event.id, s.skipThrough) <= 0) continue;
        s.skipThrough = undefined;
      }
      frame ??= frameOf(event);
      void s.stream.writeSerialized(frame);
    }
  }

  function accepts(s: Subscriber, event: LoggedEvent): boolean {
    try {
      return s.filter!(event);
    } catch (error) {
      logger.warn('channel subscriber filter threw; event skipped', error);
      return false;
    }
  }

  function onTailError(error: unknown): void {
    listening = undefined;
    logger.warn('channel replay log failed; closing its streams so clients reconnect', error);
    const failure = unavailable(error);
    for (const s of subscribers) s.stream.fail(failure);
    subscribers.clear();
  }

  async function publish(event: { data: unknown; event?: string }): Promise<string> {
    if (closed) throw new HttpError(503, 'channel.closed', 'the channel is closed');
    if (typeof event !== 'object' || event === null)
      throw new TypeError('channel event must be an object like { data, event }');
    const data = typeof event.data === 'string' ? event.data : JSON.stringify(event.data);
    if (typeof data !== 'string')
      throw new TypeError('channel event.data must be a string or JSON-serialisable');
    // Validates the event name (CR/LF) before anything is stored.
    const entry = event.event === undefined ? { data } : { event: event.event, data };
    serializeEvent(entry);
    const logged = await log.append(entry);
    return logged.id;
  }

  async function subscribe(stream: SseStream, subscribeOptions?: SubscribeOptions): Promise<void> {
    if (closed || gone) throw new HttpError(503, 'channel.closed', 'the channel is closed');
    const filter = functionOption(subscribeOptions?.filter, 'filter');
    const cursor = subscribeOptions?.lastEventId ?? stream.lastEventId;
    const subscriber: Subscriber = {
      stream,
      filter,
      pending: cursor === undefined ? undefined : [],
      overflowed: false,
      skipThrough: undefined,
    };
    try {
      await listen();
    } catch (error) {
      // An outage: the client gets the error event and a close, and reconnects later.
      throw unavailable(error);
    }
    if (stream.closed) return;
    subscribers.add(subscriber);
    stream.signal.addEventListener('abort', function unsubscribe() {
      subscribers.delete(subscriber);
    });
    if (cursor !== undefined) {
      try {
        await replay(subscriber, cursor);
      } catch (error) {
        subscribers.delete(subscriber);
        throw unavailable(error);
      }
    }
  }

  /**
   * Writes what the subscriber missed, then what arrived meanwhile, then
   * lets live events through. Live events that arrive past one page while
   * it replays are not kept: once the kept ones are written, the log is
   * read again from the last one written, so memory stays bounded and
   * nothing is lost.
   */
  async function replay(s: Subscriber, cursor: string): Promise<void> {
    let last = cursor;
    let reset = false;
    let resetAt: string | undefined;
    for (;;) {
      while (!reset && last !== '' && !s.stream.closed) {
        // A malformed or foreign cursor is the log's to judge: it answers reset, with where the client now stands.
        const page = await log.after(last, replayPage);
        if (page.reset) {
          reset = true;
          resetAt = page.last;
          break;
        }
        for (const event of page.events) {
          last = event.id;
          if (s.filter === undefined || accepts(s, event)) await writeOrStop(s, frameOf(event));
        }
        if (page.events.length < replayPage) break;
      }
      if (reset) {
        // The reset's id is the log's newest: a client that drops now resumes from there, without a second reset.
        await writeOrStop(s, resetFrame(resetAt));
        reset = false;
        last = resetAt ?? '';
      }
      last = await writePending(s, last);
      if (!s.overflowed || s.stream.closed) break;
      s.overflowed = false;
    }
    s.pending = undefined;
    if (last !== '') s.skipThrough = last;
  }

  /** Writes the live events kept during a replay, skipping what it wrote; returns the last id written. */
  async function writePending(s: Subscriber, after: string): Promise<string> {
    let last = after;
    const pending = s.pending!;
    let i = 0;
    while (i < pending.length && !s.stream.closed) {
      const event = pending[i++]!;
      if (last !== '' && log.compare(event.id, last) <= 0) continue;
      last = event.id;
      await writeOrStop(s, frameOf(event));
    }
    pending.length = 0;
    return last;
  }

  function handler(sseOptions?: SseOptions): RequestHandler {
    const open = sse(sseOptions);
    return function channelHandler(
      req: IncomingMessage,
      res: ServerResponse,
      next: NextFunction,
    ): void {
      if (gone) {
        res.statusCode = 204;
        res.end();
        return;
      }
      open(req, res, function subscribeOpened(err?: unknown) {
        if (err !== undefined) {
          next(err);
          return;
        }
        const stream = (res as ServerResponse & { locals: { sse: SseStream } }).locals.sse;
        subscribe(stream).catch(function subscribeFailed(error: unknown) {
          stream.fail(error);
        });
      });
    };
  }

  async function closeAll(closeOptions?: CloseAllOptions): Promise<void> {
    const final = serializeEvent(closeOptions?.final ?? { event: 'close', data: 'reconnect' });
    if (closeOptions?.goAway === true) gone = true;
    const streams = [...subscribers].map((s) => s.stream);
    subscribers.clear();
    for (const stream of streams) {
      void stream.writeSerialized(final);
      stream.close();
    }
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    await closeAll();
    const stop = await listening?.catch(() => undefined);
    stop?.();
  }

  return {
    publish,
    subscribe,
    handler,
    closeAll,
    close,
    get size() {
      return subscribers.size;
    },
  };
}

/** A log failure as the 503 every subscriber gets (ErrorFrame `CHANNEL_UNAVAILABLE`). */
function unavailable(error: unknown): HttpError {
  if (error instanceof HttpError && error.type === 'channel.unavailable') return error;
  return new HttpError(503, 'channel.unavailable', 'the event channel is unavailable', {
    cause: error,
  });
}

function frameOf(event: LoggedEvent): string {
  return serializeEvent(
    event.event === undefined
      ? { id: event.id, data: event.data }
      : { id: event.id, event: event.event, data: event.data },
  );
}

/** Replay writes wait for the client (backpressure); a closed stream ends the replay quietly. */
async function writeOrStop(s: Subscriber, frame: string): Promise<void> {
  try {
    await s.stream.writeSerialized(frame);
  } catch {
    // The stream closed; its abort listener removes the subscriber.
  }
}
