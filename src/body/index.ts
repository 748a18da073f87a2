/**
 * rereadableBody: read the request body once into pooled memory, read it
 * again as often as needed, and verify webhook signatures over the exact bytes.
 *
 * @example
 * import { rereadableBody } from 'streamguard/body';
 * app.use(rereadableBody({ limit: '1mb' }));
 */
import './locals.js';

export type { BodyErrorMessage, BodyPoolMessage, BodyReadMessage } from '../core/instrument.js';
export { bodyOf } from './locals.js';
export type { TypeOption } from './media.js';
export {
  type RereadableBodyMiddleware,
  type RereadableBodyOptions,
  rereadableBody,
} from './middleware.js';
export {
  BufferPool,
  type BufferPoolOptions,
  type BufferPoolStats,
  Lease,
  POISON_BYTE,
} from './pool.js';
export { RereadableBody } from './rereadable.js';
export {
  githubVerify,
  type Secrets,
  type StripeSignatureOptions,
  type StripeVerifyOptions,
  stripeVerify,
  type VerifyFunction,
  verifyGitHubSignature,
  verifyStripeSignature,
} from './signature.js';
