/**
 * streamguard: Express/Connect middlewares for request bodies and response
 * streams that lose nothing, block nothing, and never blow memory. This
 * module re-exports every public name; each middleware is also its own
 * subpath (`streamguard/errors`, …).
 *
 * @example
 * import { errorFrames } from 'streamguard';
 */

export * from './batch/index';
export * from './body/index';
export {
  type CallbackErrorMessage,
  CHANNELS,
  type ChannelMessages,
  type ShutdownMessage,
} from './core/instrument';
export { defaultLogger, type Logger } from './core/logger';
export type { ErrorRequestHandler, NextFunction, RequestHandler } from './core/types';
export * from './errors/index';
export * from './metrics/index';
export * from './rate-limit/index';
export * from './shutdown/index';
export * from './sse/index';
export * from './tee/index';
