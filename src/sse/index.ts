/**
 * `streamguard/sse`: server-sent events and NDJSON streams that stop when
 * the client goes and never buffer without bound.
 *
 * @example
 * import { sse, type SseStream } from 'streamguard/sse';
 */
import './locals';

export type {
  SseBlockedMessage,
  SseCloseMessage,
  SseDropMessage,
  SseOpenMessage,
} from '../core/instrument';
export { type CloseReason, isAbortError, StreamAbortError } from './abort';
export {
  type Channel,
  type ChannelOptions,
  type CloseAllOptions,
  createChannel,
  type SubscribeOptions,
} from './channel';
export {
  type Channels,
  type ChannelsHandlerOptions,
  type ChannelsOptions,
  createChannels,
} from './channels';
export { type SseEvent, serializeComment, serializeEvent, serializeNdjson } from './framing';
export { type Line, type LinesOptions, lines } from './lines';
export { ndjsonOf, sseOf } from './locals';
export {
  MemoryReplayLog,
  type MemoryReplayLogOptions,
  MemoryReplayLogs,
} from './memory-replay-log';
export { ndjson, sse } from './middleware';
export { NdjsonStream } from './ndjson-stream';
export { NO_RECONNECT_ID } from './no-reconnect';
export type { SseOptions, StreamOptions } from './options';
export type { PipeOptions, PipeSource } from './pipe';
export {
  RedisStreamLog,
  type RedisStreamLogOptions,
  RedisStreamLogs,
  type RedisStreamLogsOptions,
} from './redis-stream-log';
export type { LoggedEvent, ReplayLog, ReplayLogs, ReplayResult } from './replay-log';
export { type SseCloseOptions, SseStream } from './sse-stream';
export { type OverflowPolicy, type StreamStats, StreamWriter } from './writer';
