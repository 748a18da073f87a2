/**
 * `streamguard/errors`: the error shapes every middleware uses, and the
 * handler that renders them.
 *
 * @example
 * import { errorFrames, HttpError } from 'streamguard/errors';
 */
export {
  codeFromType,
  type DescribedError,
  describeError,
  type ErrorFrame,
  HttpError,
  type HttpErrorProps,
} from '../core/errors.js';
export { traceId } from '../core/trace.js';
export { type ErrorFramesOptions, errorFrames } from './error-frames.js';
