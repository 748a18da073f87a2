import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../core/errors.js';
import { type Logger, loggerOption } from '../core/logger.js';
import { integerOption, readOptions } from '../core/options.js';
import type { NextFunction, RequestHandler } from '../core/types.js';
import { parseDuration } from '../core/units.js';
import {
  type Channel,
  type CloseAllOptions,
  createChannel,
  type SubscribeOptions,
} from './channel.js';
import { MemoryReplayLogs } from './memory-replay-log.js';
import { sse } from './middleware.js';
import type { SseOptions } from './options.js';
import type { LoggedEvent, ReplayLogs } from './replay-log.js';
import type { SseStream } from './sse-stream.js';

/**
 * Options for {@link createChannels}.
 *
 * @example
 * createChannels({ replay: new RedisStreamLogs({ client, prefix: 'sse:user:' }), idle: '1m' });
 */
export interface ChannelsOptions {
  /** The logs, one per topic. Default `new MemoryReplayLogs()`. */
  replay?: ReplayLogs;
  /** A topic with no subscriber and no publish for this long is dropped (ms or `'30s'`). Default `'30s'`. */
  idle?: number | string;
  /** Topics alive at once at most; a new topic past it is refused (503 `channel.topics.exhausted`). Default 100,000. */
  maxTopics?: number;
  /** Longest topic name (characters). Default 256. */
  maxTopicLength?: number;
  /** Events read from a log per replay page. Default 500. */
  replayPage?: number;
  /** Where failures are reported. Default: one line on `console.warn`. */
  logger?: Logger;
}

/**
 * Options for {@link Channels.handler}: the stream's options plus how to
 * find the topic and what this subscriber may see.
 *
 * @example
 * rooms.handler({ topic: (req) => `room:${req.params.id}`, filter: (e, req) => canSee(req, e) });
 */
export interface ChannelsHandlerOptions extends SseOptions {
  /** The topic of a request (`req.params.room`, the user's id…). Throwing, or no valid name, is a 400 `channel.topic.invalid`. Required. */
  topic: (req: IncomingMessage) => string;
  /** Which events this request's subscriber gets, replayed and live alike (authorisation). Default all. */
  filter?: (event: LoggedEvent, req: IncomingMessage) => boolean;
}

/**
 * Many channels, one per topic: see {@link createChannels}.
 *
 * @example
 * await rooms.publish('room:42', { event: 'message', data: { text: 'hi' } });
 */
export interface Channels {
  /** Publishes to `topic` (created if needed). Resolves with the event's id; rejects if the log fails. */
  publish(topic: string, event: { data: unknown; event?: string }): Promise<string>;
  /** Subscribes a stream to `topic` (created if needed): replay after its cursor, then live; `filter` applies to both. */
  subscribe(topic: string, stream: SseStream, options?: SubscribeOptions): Promise<void>;
  /** A route handler: opens an event stream and subscribes it to the request's topic. */
  handler(options: ChannelsHandlerOptions): RequestHandler;
  /** Subscribers of `topic` in this process (0 when it is not alive). */
  subscribers(topic: string): number;
  /** Sends every stream of every topic a final event and closes it. */
  closeAll(options?: CloseAllOptions): Promise<void>;
  /** Closes every topic and the logs. */
  close(): Promise<void>;
  /** Topics alive now. */
  readonly size: number;
}

interface Topic {
  channel: Channel;
  /** Publishes and subscribes in progress: a busy topic is never dropped. */
  busy: number;
  lastUsed: number;
}

/**
 * A hub of channels, one per topic (a stream per user or room), each made
 * on its first publish or subscriber and dropped once it has had no
 * subscriber and no publish for `idle`. Every topic is a full
 * {@link createChannel} (isolated subscribers, replay then live with no gap
 * and no duplicate, `reset` for a cursor the log cannot prove). With
 * `RedisStreamLogs` every topic shares one blocking Redis connection per
 * process. A per-subscriber `filter` (an authorisation hook) applies to
 * replayed and live events alike, so a replay never shows a client what
 * live delivery would not.
 *
 * @example
 * const rooms = createChannels({ replay: new RedisStreamLogs({ client: redis, prefix: 'sse:room:' }) });
 * app.get('/rooms/:id/events', rooms.handler({
 *   topic: (req) => (req as express.Request).params.id,
 *   filter: (event, req) => event.event !== 'private' || isAdmin(req),
 * }));
 * await rooms.publish('42', { event: 'message', data: { text: 'hi' } });
 */
export function createChannels(options?: ChannelsOptions): Channels {
  const o = readOptions(options, 'createChannels', [
    'replay',
    'idle',
    'maxTopics',
    'maxTopicLength',
    'replayPage',
    'logger',
  ]);
  const logs = o.replay ?? new MemoryReplayLogs();
  if (
    typeof logs !== 'object' ||
    logs === null ||
    typeof logs.log !== 'function' ||
    typeof logs.release !== 'function'
  ) {
    throw new TypeError('option replay must be a ReplayLogs (MemoryReplayLogs or RedisStreamLogs)');
  }
  const idle = parseDuration(o.idle ?? '30s', 'idle');
  if (idle === 0) throw new TypeError('option idle must be a positive duration');
  const maxTopics = integerOption(o.maxTopics, 'maxTopics', 100_000, 1);
  const maxTopicLength = integerOption(o.maxTopicLength, 'maxTopicLength', 256, 1);
  const replayPage = integerOption(o.replayPage, 'replayPage', 500, 1);
  const logger = loggerOption(o.logger);
  const topics = new Map<string, Topic>();
  let sweeper: NodeJS.Timeout | undefined;
  let gone = false;
  let closed = false;

  function validTopic(name: unknown): name is string {
    return typeof name === 'string' && name !== '' && name.length <= maxTopicLength;
  }

  /** The topic's entry, made on first use; marked busy until `done()`. */
  function acquire(name: string): Topic {
    if (closed) throw new HttpError(503, 'channel.closed', 'the channel is closed');
    let topic = topics.get(name);
    if (topic === undefined) {
      if (topics.size >= maxTopics)
        throw new HttpError(503, 'channel.topics.exhausted', 'too many channel topics', {
          limit: maxTopics,
        });
      topic = {
        channel: createChannel({ replay: logs.log(name), replayPage, logger }),
        busy: 0,
        lastUsed: Date.now(),
      };
      topics.set(name, topic);
      if (sweeper === undefined) {
        sweeper = setInterval(sweep, Math.max(1, Math.floor(idle / 2)));
        sweeper.unref();
      }
    }
    topic.busy++;
    return topic;
  }

  function done(topic: Topic): void {
    topic.busy--;
    topic.lastUsed = Date.now();
  }

  /** Drops topics idle for `idle`: no subscriber, nothing in progress, no use since. */
  function sweep(): void {
    const now = Date.now();
    for (const [name, topic] of topics) {
      if (topic.busy > 0 || topic.channel.size > 0) {
        topic.lastUsed = now;
        continue;
      }
      if (now - topic.lastUsed < idle) continue;
      drop(name, topic);
    }
    if (topics.size === 0) stopSweeper();
  }

  function drop(name: string, topic: Topic): void {
    topics.delete(name);
    topic.channel.close().catch(function dropFailed(error: unknown) {
      logger.warn(`channel topic ${name} did not close cleanly`, error);
    });
    // At once: a topic used again from now on gets a new log, which this must not release.
    logs.release(name);
  }

  function stopSweeper(): void {
    clearInterval(sweeper);
    sweeper = undefined;
  }

  async function publish(name: string, event: { data: unknown; event?: string }): Promise<string> {
    if (!validTopic(name))
      throw new TypeError(
        `channel topic must be a non-empty string of at most ${maxTopicLength} characters`,
      );
    const topic = acquire(name);
    try {
      return await topic.channel.publish(event);
    } finally {
      done(topic);
    }
  }

  async function subscribe(
    name: string,
    stream: SseStream,
    subscribeOptions?: SubscribeOptions,
  ): Promise<void> {
    if (gone) throw new HttpError(503, 'channel.closed', 'the channel is closed');
    if (!validTopic(name))
      throw new HttpError(400, 'channel.topic.invalid', 'the channel topic is invalid', {
        limit: maxTopicLength,
      });
    const topic = acquire(name);
    try {
      await topic.channel.subscribe(stream, subscribeOptions);
    } finally {
      done(topic);
    }
  }

  function handler(handlerOptions: ChannelsHandlerOptions): RequestHandler {
    if (typeof handlerOptions !== 'object' || handlerOptions === null)
      throw new TypeError('handler() options must be an object with a topic function');
    const { topic: topicOf, filter, ...sseOptions } = handlerOptions;
    if (typeof topicOf !== 'function')
      throw new TypeError('option topic must be a function (req) => topic name');
    if (filter !== undefined && typeof filter !== 'function')
      throw new TypeError('option filter must be a function (event, req) => boolean');
    const open = sse(sseOptions);
    return function channelsHandler(
      req: IncomingMessage,
      res: ServerResponse,
      next: NextFunction,
    ): void {
      if (gone) {
        res.statusCode = 204;
        res.end();
        return;
      }
      let name: unknown;
      try {
        name = topicOf(req);
      } catch (error) {
        next(
          new HttpError(400, 'channel.topic.invalid', 'the channel topic is invalid', {
            cause: error,
          }),
        );
        return;
      }
      if (!validTopic(name)) {
        next(
          new HttpError(400, 'channel.topic.invalid', 'the channel topic is invalid', {
            limit: maxTopicLength,
          }),
        );
        return;
      }
      const topicName = name;
      open(req, res, function subscribeOpened(err?: unknown) {
        if (err !== undefined) {
          next(err);
          return;
        }
        const stream = (res as ServerResponse & { locals: { sse: SseStream } }).locals.sse;
        const own =
          filter === undefined
            ? undefined
            : function requestFilter(event: LoggedEvent): boolean {
                return filter(event, req);
              };
        subscribe(topicName, stream, own === undefined ? undefined : { filter: own }).catch(
          function subscribeFailed(error: unknown) {
            stream.fail(error);
          },
        );
      });
    };
  }

  async function closeAll(closeOptions?: CloseAllOptions): Promise<void> {
    if (closeOptions?.goAway === true) gone = true;
    await Promise.all([...topics.values()].map((t) => t.channel.closeAll(closeOptions)));
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    stopSweeper();
    const all = [...topics.values()];
    topics.clear();
    await Promise.all(all.map((t) => t.channel.close()));
    await logs.close();
  }

  return {
    publish,
    subscribe,
    handler,
    subscribers(name: string): number {
      return topics.get(name)?.channel.size ?? 0;
    },
    closeAll,
    close,
    get size() {
      return topics.size;
    },
  };
}
