/**
 * `streamguard/sse`: server-sent events and NDJSON streams that stop when
 * the client goes and never buffer without bound.
 *
 * @example
 * import { sse, type SseStream } from 'streamguard/sse';
 */
import './locals.js';

export type {
  SseBlockedMessage,
  SseCloseMessage,
  SseDropMessage,
  SseOpenMessage,
} from '../core/instrument.js';
export { type CloseReason, isAbortError, StreamAbortError } from './abort.js';
export {
  type Channel,
  type ChannelOptions,
  type CloseAllOptions,
  createChannel,
  type SubscribeOptions,
} from './channel.js';
export {
  type Channels,
  type ChannelsHandlerOptions,
  type ChannelsOptions,
  createChannels,
} from './channels.js';
export { type SseEvent, serializeComment, serializeEvent, serializeNdjson } from './framing.js';
export { type Line, type LinesOptions, lines } from './lines.js';
export { ndjsonOf, sseOf } from './locals.js';
export {
  MemoryReplayLog,
  type MemoryReplayLogOptions,
  MemoryReplayLogs,
} from './memory-replay-log.js';
export { ndjson, sse } from './middleware.js';
export { NdjsonStream } from './ndjson-stream.js';
export { NO_RECONNECT_ID } from './no-reconnect.js';
export type { SseOptions, StreamOptions } from './options.js';
export type { PipeOptions, PipeSource } from './pipe.js';
export {
  RedisStreamLog,
  type RedisStreamLogOptions,
  RedisStreamLogs,
  type RedisStreamLogsOptions,
} from './redis-stream-log.js';
export type { LoggedEvent, ReplayLog, ReplayLogs, ReplayResult } from './replay-log.js';
export { type SseCloseOptions, SseStream } from './sse-stream.js';
export { type OverflowPolicy, type StreamStats, StreamWriter } from './writer.js';
