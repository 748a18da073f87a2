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
export type { BodyFormat } from './json';
export { teeOf } from './locals';
export { DEFAULT_REDACT, type ResponseTeeOptions, type TeeRequestOptions } from './options';
export type {
  DecodedBodyJSON,
  TeeCapture,
  TeeCaptureJSON,
  TeeLocals,
  TeeOutcome,
  TeeRecord,
  TeeRecordJSON,
  TeeRequestRecord,
  TeeRequestRecordJSON,
  TeeTimings,
} from './record';
export type { BodyRedactor, RedactContext, Redaction } from './redact';
export { TeeSinkError, type TeeSinkRecord } from './sink';
export { type ResponseTee, responseTee, type TeeStats } from './tee';
