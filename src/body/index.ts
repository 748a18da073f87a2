/**
 * rereadableBody: read the request body once into pooled memory, read it
 * again as often as needed, and verify webhook signatures over the exact bytes.
 *
 * @example
 * import { rereadableBody } from 'streamguard/body';
 * app.use(rereadableBody({ limit: '1mb' }));
 */
import './locals';

export type { BodyErrorMessage, BodyPoolMessage, BodyReadMessage } from '../core/instrument';
export { bodyOf } from './locals';
export type { TypeOption } from './media';
export {
  type RereadableBodyMiddleware,
  type RereadableBodyOptions,
  rereadableBody,
} from './middleware';
export {
  BufferPool,
  type BufferPoolOptions,
  type BufferPoolStats,
  Lease,
  POISON_BYTE,
} from './pool';
export { RereadableBody } from './rereadable';
export {
  githubVerify,
  type Secrets,
  type StripeSignatureOptions,
  type StripeVerifyOptions,
  stripeVerify,
  type VerifyFunction,
  verifyGitHubSignature,
  verifyStripeSignature,
} from './signature';
