import type { DecodedBody } from './decode.js';
import type { HeaderRecord } from './headers.js';
import type { BodyFormat } from './json.js';
import type { Redaction } from './redact.js';
import type { TeeSinkRecord } from './sink.js';

/**
 * How a response ended.
 *
 * @example
 * if (record.outcome === 'aborted') metrics.aborted.inc();
 */
export type TeeOutcome = 'completed' | 'aborted' | 'errored';

/**
 * When things happened, in milliseconds since the tee saw the request
 * (`performance.now()` based); `undefined` when it never happened.
 *
 * @example
 * const ttfb = record.timings.firstByte;
 */
export interface TeeTimings {
  /** `Date.now()` when the tee saw the request. */
  startedAt: number;
  /** Always 0: the origin of the other timings. */
  start: number;
  /** The status line and headers were handed to Node (`writeHead`, explicit or implicit). */
  headersSent: number | undefined;
  /** The first body byte was handed to Node. */
  firstByte: number | undefined;
  /** `res.end()` was called: every body byte has been handed to Node. */
  end: number | undefined;
  /** The response's `'close'`: a tick after it finished, or when its connection was lost. */
  close: number | undefined;
}

/**
 * A bounded capture of one side of an exchange: `body` holds the first
 * `maxBytes`, `tail` the last `tailBytes` when bytes in between were dropped.
 *
 * @example
 * if (!capture.truncated) JSON.parse(capture.body.toString());
 */
export interface TeeCapture {
  /** The captured head (the whole body when `truncated` is false). */
  body: Buffer;
  /** The captured tail when head+tail capture dropped bytes in between; else empty. */
  tail: Buffer;
  /** Body bytes that went through, captured or not. */
  bytes: number;
  /** Bytes held in `body` + `tail`. */
  capturedBytes: number;
  /** Whether some of the `bytes` are in neither `body` nor `tail`. */
  truncated: boolean;
  /** Whether the factory's `maxInFlightBytes` budget cut this capture short. */
  budgetExceeded: boolean;
  /** Hex digest of every body byte (not just the captured ones), when the `hash` option is set. */
  digest: string | undefined;
  /** What `redactBody` did to `body` and `tail`: `none`, `applied`, or `withheld` (dropped, could not be redacted safely). */
  redaction: Redaction;
}

/**
 * What the tee saw of the request body: the bytes the application read,
 * tapped as it read them.
 *
 * @example
 * if (record.request?.complete) audit(record.request.body);
 */
export interface TeeRequestRecord extends TeeCapture {
  method: string;
  url: string;
  /** Request headers, redacted like the response's. */
  headers: HeaderRecord;
  /** Whether the whole request body arrived (`req.complete`). */
  complete: boolean;
}

/**
 * Everything `responseTee` saw of one response, handed to `onFinish` once,
 * after the response closed.
 *
 * @example
 * responseTee({ onFinish(record) { log(record.status, record.bytes, record.outcome); } });
 */
export interface TeeRecord extends TeeCapture {
  /** The request's trace id (`traceparent`, `x-request-id`, or generated). */
  traceId: string;
  method: string;
  url: string;
  status: number;
  statusMessage: string;
  /** Headers as flushed on the wire (redacted). Empty when headers never went out. */
  headers: HeaderRecord;
  /** Whether headers went out at all. */
  headersSent: boolean;
  outcome: TeeOutcome;
  /** The error passed to `res.destroy(err)`, when the server destroyed the response with one. */
  error: unknown;
  /** The `Content-Encoding` header as flushed (`undefined` when none). */
  contentEncoding: string | undefined;
  /**
   * The content coding of the captured bytes: the wire coding when the tee
   * wrapped Node's own write path (mounted before compression), `identity`
   * when a wrapper below it (compression mounted before the tee) may encode
   * what the tee saw, and `unknown` when that cannot be told apart.
   */
  bodyEncoding: string;
  /** Whether the captured bytes are the bytes on the wire (the tee sat directly on Node's write). */
  wire: boolean;
  /** A bounded decoded copy when `decode` is on and `bodyEncoding` is gzip/deflate/br. */
  decoded: DecodedBody | undefined;
  timings: TeeTimings;
  /** Whether the request body was fully received (`req.complete`) when the response closed. */
  requestBodyComplete: boolean;
  /** The request-side capture, when the `request` option is on. */
  request: TeeRequestRecord | undefined;
  /** What the streaming sink got, when the `sink` option gave one for this response. */
  sink: TeeSinkRecord | undefined;
  /** The record as plain JSON data: bodies as text or base64 (see {@link TeeRecordJSON}). `JSON.stringify(record)` uses it. */
  toJSON(): TeeRecordJSON;
}

/**
 * A {@link TeeCapture} as JSON: `body` and `tail` are strings, text or
 * base64 as `bodyFormat` says. Text is chosen by the content type (`text/*`,
 * JSON, XML, form-urlencoded, NDJSON, event streams…) when the bytes carry
 * no content coding and decode losslessly; anything else is base64.
 *
 * @example
 * const bytes = Buffer.from(json.body, json.bodyFormat === 'text' ? 'utf8' : 'base64');
 */
export interface TeeCaptureJSON extends Omit<TeeCapture, 'body' | 'tail'> {
  body: string;
  tail: string;
  bodyFormat: BodyFormat;
}

/**
 * A {@link DecodedBody} as JSON: `body` is text or base64 as `bodyFormat` says.
 *
 * @example
 * if (json.decoded?.bodyFormat === 'text') console.log(json.decoded.body);
 */
export interface DecodedBodyJSON extends Omit<DecodedBody, 'body'> {
  body: string;
  bodyFormat: BodyFormat;
}

/**
 * A {@link TeeRequestRecord} as JSON.
 *
 * @example
 * const req: TeeRequestRecordJSON | undefined = record.toJSON().request;
 */
export interface TeeRequestRecordJSON extends Omit<TeeRequestRecord, 'body' | 'tail'> {
  body: string;
  tail: string;
  bodyFormat: BodyFormat;
}

/**
 * What `record.toJSON()` returns (and `JSON.stringify(record)` writes): the
 * record with its bodies as strings, and `error` as `{ name, message, code }`.
 *
 * @example
 * fs.appendFileSync('audit.ndjson', `${JSON.stringify(record)}\n`);
 */
export interface TeeRecordJSON
  extends Omit<TeeRecord, 'body' | 'tail' | 'decoded' | 'request' | 'error' | 'sink' | 'toJSON'> {
  body: string;
  tail: string;
  bodyFormat: BodyFormat;
  decoded: DecodedBodyJSON | undefined;
  request: TeeRequestRecordJSON | undefined;
  error: { name: string; message: string; code?: string } | undefined;
  sink: { bytes: number; truncated: boolean; error: TeeRecordJSON['error'] } | undefined;
}

/**
 * Live counters on `res.locals.tee`, updated on every write.
 *
 * @example
 * app.get('/events', (req, res) => { setInterval(() => console.log(res.locals.tee?.bytes), 1000); });
 */
export interface TeeLocals {
  /** Body bytes handed to Node so far. */
  readonly bytes: number;
  /** Bytes captured so far. */
  readonly capturedBytes: number;
  /** Whether the capture has dropped bytes yet. */
  readonly truncated: boolean;
  /** `write`/`end` calls that carried body bytes. */
  readonly writes: number;
  /** Request body bytes the application read so far (0 unless `request` is on). */
  readonly requestBytes: number;
  /** Whether `onFinish` has been scheduled (the response closed). */
  readonly done: boolean;
}
