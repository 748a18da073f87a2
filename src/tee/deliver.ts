import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseHeaderBlock, sentHeader } from '../core/headers.js';
import { flushedHeaderBlock } from '../core/internals.js';
import { traceId } from '../core/trace.js';
import type { CaptureBudget } from './capture.js';
import { DECODABLE, type DecodedBody, decodeBounded } from './decode.js';
import { flushedHeaders, type HeaderRecord, redactHeaders } from './headers.js';
import { toJsonBody } from './json.js';
import type { TeeConfig } from './options.js';
import type {
  DecodedBodyJSON,
  TeeOutcome,
  TeeRecord,
  TeeRecordJSON,
  TeeRequestRecord,
  TeeRequestRecordJSON,
  TeeTimings,
} from './record.js';
import { type Redaction, redactCapture } from './redact.js';
import type { TeeSession } from './session.js';
import type { TeeSinkRecord } from './sink.js';

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
  const contentEncoding = headersSent ? contentEncodingOf(res) : undefined;
  const bodyEncoding = encodingOfCapture(session.wire, contentEncoding, capture.body);
  const record = new ResponseRecord(req, res, config.redact);
  record.body = capture.body;
  record.tail = capture.tail;
  record.bytes = capture.bytes;
  record.capturedBytes = capture.capturedBytes;
  record.truncated = capture.truncated;
  record.budgetExceeded = capture.budgetExceeded;
  record.digest = capture.digest;
  record.method = req.method ?? 'GET';
  record.url = fullUrl(req);
  record.status = res.statusCode;
  record.statusMessage = res.statusMessage ?? '';
  record.headersSent = headersSent;
  record.outcome = outcomeOf(session);
  record.error = res.errored ?? undefined;
  record.contentEncoding = contentEncoding;
  record.bodyEncoding = bodyEncoding;
  record.wire = session.wire;
  record.timings = {
    startedAt: session.startedAt,
    start: 0,
    headersSent: session.headersAt,
    firstByte: session.firstByteAt,
    end: session.endAt,
    close: session.closeAt,
  };
  record.requestBodyComplete = req.complete;
  record.request = requestRecord(session, config);
  record.sink = session.sinkTap?.toRecord();
  return record;
}

/**
 * A {@link TeeRecord} whose `headers` and `traceId` are computed on first
 * read (parsing the flushed header block and the request headers costs more
 * than the rest of the record together, and many `onFinish` callbacks never
 * look). `JSON.stringify` includes them through `toJSON()`.
 */
class ResponseRecord implements TeeRecord {
  body: Buffer = EMPTY;
  tail: Buffer = EMPTY;
  bytes = 0;
  capturedBytes = 0;
  truncated = false;
  budgetExceeded = false;
  digest: string | undefined = undefined;
  redaction: Redaction = 'none';
  method = '';
  url = '';
  status = 0;
  statusMessage = '';
  headersSent = false;
  outcome: TeeOutcome = 'completed';
  error: unknown = undefined;
  contentEncoding: string | undefined = undefined;
  bodyEncoding = 'identity';
  wire = true;
  decoded: DecodedBody | undefined = undefined;
  timings: TeeTimings = EMPTY_TIMINGS;
  requestBodyComplete = false;
  request: TeeRequestRecord | undefined = undefined;
  sink: TeeSinkRecord | undefined = undefined;
  private resolvedHeaders: HeaderRecord | undefined;
  private resolvedTraceId: string | undefined;
  private source:
    | {
        req: IncomingMessage;
        block: unknown;
        fallback: HeaderRecord;
        redact: ReadonlySet<string>;
      }
    | undefined;

  constructor(req: IncomingMessage, res: ServerResponse, redact: ReadonlySet<string>) {
    // Headers never flushed are reported empty; a flushed block is kept to be parsed on demand.
    const sent = res.headersSent;
    const block = sent ? flushedHeaderBlock(res) : undefined;
    const parseLater = typeof block === 'string' && block.length > 0;
    const fallback: HeaderRecord =
      sent && !parseLater ? flushedHeaders(res) : (Object.create(null) as HeaderRecord);
    this.source = { req, block: parseLater ? block : undefined, fallback, redact };
  }

  get headers(): HeaderRecord {
    if (this.resolvedHeaders === undefined) {
      const source = this.source!;
      const raw =
        typeof source.block === 'string' && source.block.length > 0
          ? parseHeaderBlock(source.block)
          : source.fallback;
      this.resolvedHeaders = redactHeaders(raw, source.redact);
      this.release();
    }
    return this.resolvedHeaders;
  }

  set headers(value: HeaderRecord) {
    this.resolvedHeaders = value;
  }

  get traceId(): string {
    if (this.resolvedTraceId === undefined) {
      this.resolvedTraceId = traceId(this.source!.req);
      this.release();
    }
    return this.resolvedTraceId;
  }

  set traceId(value: string) {
    this.resolvedTraceId = value;
  }

  /** Drops the request and header block once both lazy fields are resolved. */
  private release(): void {
    if (this.resolvedHeaders !== undefined && this.resolvedTraceId !== undefined)
      this.source = undefined;
  }

  /**
   * The record as plain JSON data, lazy fields included (what `JSON.stringify`
   * uses): bodies as text or base64 (`bodyFormat`), `error` as `{ name, message, code }`.
   */
  toJSON(): TeeRecordJSON {
    const contentType = this.headers['content-type'];
    return {
      ...toJsonBody(this.body, this.tail, contentType, this.bodyEncoding, this.truncated),
      bytes: this.bytes,
      capturedBytes: this.capturedBytes,
      truncated: this.truncated,
      budgetExceeded: this.budgetExceeded,
      digest: this.digest,
      redaction: this.redaction,
      traceId: this.traceId,
      method: this.method,
      url: this.url,
      status: this.status,
      statusMessage: this.statusMessage,
      headers: this.headers,
      headersSent: this.headersSent,
      outcome: this.outcome,
      error: errorJSON(this.error),
      contentEncoding: this.contentEncoding,
      bodyEncoding: this.bodyEncoding,
      wire: this.wire,
      decoded: decodedJSON(this.decoded, contentType),
      timings: this.timings,
      requestBodyComplete: this.requestBodyComplete,
      request: requestJSON(this.request),
      sink:
        this.sink === undefined
          ? undefined
          : {
              bytes: this.sink.bytes,
              truncated: this.sink.truncated,
              error: errorJSON(this.sink.error),
            },
    };
  }
}

function decodedJSON(
  decoded: DecodedBody | undefined,
  contentType: string | string[] | undefined,
): DecodedBodyJSON | undefined {
  if (decoded === undefined) return undefined;
  const { body, bodyFormat } = toJsonBody(
    decoded.body,
    EMPTY,
    contentType,
    'identity',
    decoded.truncated,
  );
  return { ...decoded, body, bodyFormat };
}

function requestJSON(request: TeeRequestRecord | undefined): TeeRequestRecordJSON | undefined {
  if (request === undefined) return undefined;
  const coding = request.headers['content-encoding'];
  return {
    ...request,
    ...toJsonBody(
      request.body,
      request.tail,
      request.headers['content-type'],
      typeof coding === 'string' ? coding.trim().toLowerCase() : coding?.join(', '),
      request.truncated,
    ),
  };
}

function errorJSON(error: unknown): TeeRecordJSON['error'] {
  if (error === undefined || error === null) return undefined;
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    return typeof code === 'string'
      ? { name: error.name, message: error.message, code }
      : { name: error.name, message: error.message };
  }
  return { name: 'Error', message: String(error) };
}

const EMPTY = Buffer.alloc(0);
const EMPTY_TIMINGS: TeeTimings = {
  startedAt: 0,
  start: 0,
  headersSent: undefined,
  firstByte: undefined,
  end: undefined,
  close: undefined,
};

/** `Content-Encoding` as sent, without parsing the whole header block. */
function contentEncodingOf(res: ServerResponse): string | undefined {
  const stored = res.getHeader('content-encoding');
  let value: string | undefined;
  if (stored !== undefined) value = Array.isArray(stored) ? stored.join(', ') : String(stored);
  else {
    // Given to writeHead() directly: only the flushed header block has it.
    const block = flushedHeaderBlock(res);
    if (typeof block === 'string' && CONTENT_ENCODING_LINE.test(block))
      value = sentHeader(res, 'content-encoding');
  }
  const normalised = value?.trim().toLowerCase();
  return normalised === '' ? undefined : normalised;
}

const CONTENT_ENCODING_LINE = /\r\ncontent-encoding:/i;

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
 * Adds the bounded decoded copy (zlib's thread pool, off the hot path). The
 * copy is charged to the factory's budget like the captures (in
 * `session.extraCharge`, given back when the record is dropped): it gets at
 * most what the budget grants, and nothing (with `error`) when it is spent.
 *
 * @example
 * await addDecoded(record, config, budget, session);
 */
export async function addDecoded(
  record: TeeRecord,
  config: TeeConfig,
  budget: CaptureBudget,
  session: TeeSession,
): Promise<void> {
  const granted = budget.take(config.decodeBytes);
  session.extraCharge += granted;
  if (granted === 0) {
    record.decoded = {
      encoding: record.bodyEncoding === 'x-gzip' ? 'gzip' : record.bodyEncoding,
      body: Buffer.alloc(0),
      truncated: true,
      error: 'maxInFlightBytes exhausted',
    };
    return;
  }
  const decoded = await decodeBounded(record.body, record.bodyEncoding, granted, record.truncated);
  // Only what the copy holds stays charged.
  budget.give(granted - decoded.body.length);
  session.extraCharge -= granted - decoded.body.length;
  record.decoded = decoded;
}

/**
 * How the response ended, as the record says.
 *
 * @example
 * if (outcomeOf(session) === 'completed') sink.end();
 */
export function outcomeOf(session: TeeSession): TeeOutcome {
  const res = session.res;
  // res.destroy(err) by the server; a lost client leaves `errored` null.
  if (res.errored !== null && res.errored !== undefined) return 'errored';
  return res.writableFinished && !session.endedAfterLoss ? 'completed' : 'aborted';
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
    url: fullUrl(req),
    headers: redactHeaders(req.headers, config.redact),
    complete: req.complete,
  };
}

/**
 * The URL the client asked for: Express and Connect strip a mount path from
 * `req.url` (`/api/hook` becomes `/hook` under `app.use('/api', …)`) and keep
 * the original in `req.originalUrl`.
 */
function fullUrl(req: IncomingMessage & { originalUrl?: unknown }): string {
  const original = req.originalUrl;
  return typeof original === 'string' ? original : (req.url ?? '');
}

/**
 * Applies `redactBody` to the record's captures (response, its decoded copy,
 * request), in place. A capture that cannot be redacted safely is withheld
 * (emptied); errors of a redaction function go to `report`.
 *
 * @example
 * redactRecord(record, config, (error) => logger.warn('tee redactBody failed', error));
 */
export function redactRecord(
  record: TeeRecord,
  config: TeeConfig,
  report: (error: unknown) => void,
): void {
  const rules = config.redactBody;
  if (rules === undefined) return;
  const contentType = headerValue(record.headers['content-type']);
  const response = redactCapture(
    {
      body: record.body,
      tail: record.tail,
      side: 'response',
      part: 'body',
      contentType,
      coding: record.bodyEncoding,
      truncated: record.truncated,
    },
    rules,
    report,
  );
  record.body = response.body;
  record.tail = response.tail;
  record.redaction = response.redaction;
  const decoded = record.decoded;
  if (decoded !== undefined) {
    const copy = redactCapture(
      {
        body: decoded.body,
        tail: EMPTY,
        side: 'response',
        part: 'decoded',
        contentType,
        coding: undefined,
        truncated: decoded.truncated,
      },
      rules,
      report,
    );
    decoded.body = copy.body;
    decoded.redaction = copy.redaction;
  }
  const request = record.request;
  if (request !== undefined) {
    const coding = headerValue(request.headers['content-encoding'])?.trim().toLowerCase();
    const side = redactCapture(
      {
        body: request.body,
        tail: request.tail,
        side: 'request',
        part: 'body',
        contentType: headerValue(request.headers['content-type']),
        coding,
        truncated: request.truncated,
      },
      rules,
      report,
    );
    request.body = side.body;
    request.tail = side.tail;
    request.redaction = side.redaction;
  }
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
