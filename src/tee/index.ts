/**
 * `streamguard/tee`: capture exactly what a response sent, bounded, without
 * changing or slowing it.
 *
 * @example
 * import { responseTee } from 'streamguard/tee';
 * app.use(responseTee({ onFinish: (record) => audit(record) }));
 */
export type { TeeCaptureMessage } from '../core/instrument';
export type { DecodedBody } from './decode';
export type { HeaderRecord } from './headers';
export { teeOf } from './locals';
export { DEFAULT_REDACT, type ResponseTeeOptions, type TeeRequestOptions } from './options';
export type {
  TeeCapture,
  TeeLocals,
  TeeOutcome,
  TeeRecord,
  TeeRequestRecord,
  TeeTimings,
} from './record';
export { type ResponseTee, responseTee, type TeeStats } from './tee';
