/**
 * `streamguard/shutdown`: graceful shutdown of a server, its SSE channels and batchers.
 *
 * @example
 * import { shutdown } from 'streamguard/shutdown';
 */
export {
  type ClosableBatcher,
  type ClosableChannel,
  type ShutdownOptions,
  type ShutdownResult,
  shutdown,
} from './shutdown.js';
