/**
 * streamguard: Express/Connect middlewares for request bodies and response
 * streams that lose nothing, block nothing, and never blow memory. This
 * module re-exports every public name; each middleware is also its own
 * subpath (`streamguard/errors`, …).
 *
 * @example
 * import { errorFrames } from 'streamguard';
 */

export * from './batch/index.js';
export * from './body/index.js';
export {
  type CallbackErrorMessage,
  CHANNELS,
  type ChannelMessages,
  type ShutdownMessage,
} from './core/instrument.js';
export { defaultLogger, type Logger } from './core/logger.js';
export type { ErrorRequestHandler, NextFunction, RequestHandler } from './core/types.js';
export * from './errors/index.js';
export * from './metrics/index.js';
export * from './rate-limit/index.js';
export * from './shutdown/index.js';
export * from './sse/index.js';
export * from './tee/index.js';
