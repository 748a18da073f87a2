/**
 * `streamguard/tee`: capture exactly what a response sent, bounded, without
 * changing or slowing it.
 *
 * @example
 * import { responseTee } from 'streamguard/tee';
 * app.use(responseTee({ onFinish: (record) => audit(record) }));
 */
export type { TeeCaptureMessage } from '../core/instrument.js';
export type { DecodedBody } from './decode.js';
export type { HeaderRecord } from './headers.js';
export type { BodyFormat } from './json.js';
export { teeOf } from './locals.js';
export { DEFAULT_REDACT, type ResponseTeeOptions, type TeeRequestOptions } from './options.js';
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
} from './record.js';
export type { BodyRedactor, RedactContext, Redaction } from './redact.js';
export { TeeSinkError, type TeeSinkRecord } from './sink.js';
export { type ResponseTee, responseTee, type TeeStats } from './tee.js';
