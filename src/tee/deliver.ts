import type { ServerResponse } from 'node:http';
import { sentHeader } from '../core/headers';
import { traceId } from '../core/trace';
import { DECODABLE, decodeBounded } from './decode';
import { flushedHeaders, type HeaderRecord, redactHeaders } from './headers';
import type { TeeConfig } from './options';
import type { TeeOutcome, TeeRecord, TeeRequestRecord } from './record';
import type { TeeSession } from './session';

/**
 * Builds the record of a closed response (without the decoded copy: see
 * {@link addDecoded}). The captures stay charged to the budget until the
 * caller releases them.
 *
 * @example
 * const record = buildRecord(session, config);
 */
export function buildRecord(session: TeeSession, config: TeeConfig): TeeRecord {
  const { req, res } = session;
  const capture = session.response.finish();
  const headersSent = res.headersSent;
  const rawHeaders: HeaderRecord = headersSent
    ? flushedHeaders(res, session.writeHeadHeaders ?? {})
    : (Object.create(null) as HeaderRecord);
  const contentEncoding = headersSent
    ? headerValue(rawHeaders, res, 'content-encoding')
    : undefined;
  const bodyEncoding = encodingOfCapture(session.wire, contentEncoding, capture.body);
  return {
    body: capture.body,
    tail: capture.tail,
    bytes: capture.bytes,
    capturedBytes: capture.capturedBytes,
    truncated: capture.truncated,
    budgetExceeded: capture.budgetExceeded,
    digest: capture.digest,
    traceId: traceId(req),
    method: req.method ?? 'GET',
    url: req.url ?? '',
    status: res.statusCode,
    statusMessage: res.statusMessage ?? '',
    headers: redactHeaders(rawHeaders, config.redact),
    headersSent,
    outcome: outcomeOf(session),
    error: session.destroyError,
    contentEncoding,
    bodyEncoding,
    wire: session.wire,
    decoded: undefined,
    timings: {
      startedAt: session.startedAt,
      start: 0,
      headersSent: session.headersAt,
      firstByte: session.firstByteAt,
      end: session.endAt,
      close: session.closeAt,
    },
    requestBodyComplete: req.complete,
    request: requestRecord(session, config),
  };
}

/**
 * Whether the record's body should get a decoded copy.
 *
 * @example
 * if (needsDecoding(record, config)) await addDecoded(record, config);
 */
export function needsDecoding(record: TeeRecord, config: TeeConfig): boolean {
  return config.decodeBytes > 0 && DECODABLE.has(record.bodyEncoding) && record.body.length > 0;
}

/**
 * Adds the bounded decoded copy (zlib's thread pool, off the hot path).
 *
 * @example
 * await addDecoded(record, config);
 */
export async function addDecoded(record: TeeRecord, config: TeeConfig): Promise<void> {
  record.decoded = await decodeBounded(
    record.body,
    record.bodyEncoding,
    config.decodeBytes,
    record.truncated,
  );
}

function headerValue(headers: HeaderRecord, res: ServerResponse, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return sentHeader(res, name)?.toLowerCase();
  return (Array.isArray(value) ? value.join(', ') : value).trim().toLowerCase() || undefined;
}

function outcomeOf(session: TeeSession): TeeOutcome {
  if (session.destroyedByServer) return 'errored';
  return session.res.writableFinished ? 'completed' : 'aborted';
}

/**
 * The coding of the captured bytes. On the wire path they are what the
 * `Content-Encoding` says; above another wrapper (compression mounted before
 * the tee) the bytes may not be encoded yet, so gzip and deflate are sniffed
 * from their magic bytes and anything else is `unknown`.
 */
function encodingOfCapture(
  wire: boolean,
  contentEncoding: string | undefined,
  body: Buffer,
): string {
  if (contentEncoding === undefined || contentEncoding === 'identity') return 'identity';
  if (wire) return contentEncoding;
  if (body.length < 2) return 'identity';
  if (contentEncoding === 'gzip' || contentEncoding === 'x-gzip')
    return body[0] === 0x1f && body[1] === 0x8b ? 'gzip' : 'identity';
  if (contentEncoding === 'deflate') {
    const header = (body[0]! << 8) | body[1]!;
    return (body[0]! & 0x0f) === 8 && header % 31 === 0 ? 'deflate' : 'identity';
  }
  return 'unknown';
}

function requestRecord(session: TeeSession, config: TeeConfig): TeeRequestRecord | undefined {
  const tap = session.requestTap;
  if (tap === undefined) return undefined;
  const { req } = session;
  return {
    ...tap.finish(),
    method: req.method ?? 'GET',
    url: req.url ?? '',
    headers: redactHeaders(req.headers, config.redact),
    complete: req.complete,
  };
}
