import { STATUS_CODES } from 'node:http';

/** Numeric and textual context an {@link HttpError} may carry, as raw-body/body-parser errors do. */
export interface HttpErrorProps {
  /** Stable machine-readable code for {@link ErrorFrame}s; derived from `type` when omitted. */
  code?: string;
  /** Whether `message` may be shown to the client; defaults to `status < 500`. */
  expose?: boolean;
  /** The underlying error. */
  cause?: unknown;
  /** Headers the error handler sets on the response (e.g. `Retry-After`). */
  headers?: Readonly<Record<string, string>>;
  /** A configured limit (bytes, requests, …). */
  limit?: number;
  /** How much was received when the error happened. */
  received?: number;
  /** How much was announced or expected. */
  expected?: number;
  /** A length involved in the error (e.g. `Content-Length`). */
  length?: number;
  /** Seconds after which retrying makes sense. */
  retryAfter?: number;
  /** The offending charset. */
  charset?: string;
  /** The offending content encoding. */
  encoding?: string;
}

/**
 * An HTTP error in the shape of the `http-errors` package (the one
 * body-parser, raw-body and Express's final handler understand): `status`,
 * `statusCode`, `expose`, a dotted `type` and a stable `code`, plus numeric
 * context. Every runtime failure a streamguard middleware passes to `next()`
 * is one of these.
 *
 * @example
 * next(new HttpError(413, 'entity.too.large', 'request entity too large', { limit: 1024, received: 2048 }));
 */
export class HttpError extends Error {
  readonly status: number;
  readonly statusCode: number;
  readonly expose: boolean;
  readonly type: string;
  readonly code: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly limit?: number;
  readonly received?: number;
  readonly expected?: number;
  readonly length?: number;
  readonly retryAfter?: number;
  readonly charset?: string;
  readonly encoding?: string;

  constructor(status: number, type: string, message?: string, props: HttpErrorProps = {}) {
    const valid = Number.isInteger(status) && status >= 400 && status <= 599;
    const code = valid ? status : 500;
    super(
      message ?? STATUS_CODES[code] ?? 'Error',
      props.cause === undefined ? undefined : { cause: props.cause },
    );
    this.name = errorName(code);
    this.status = code;
    this.statusCode = code;
    this.type = type;
    this.expose = props.expose ?? code < 500;
    this.code = props.code ?? codeFromType(type);
    if (props.headers !== undefined) this.headers = props.headers;
    if (props.limit !== undefined) this.limit = props.limit;
    if (props.received !== undefined) this.received = props.received;
    if (props.expected !== undefined) this.expected = props.expected;
    if (props.length !== undefined) this.length = props.length;
    if (props.retryAfter !== undefined) this.retryAfter = props.retryAfter;
    if (props.charset !== undefined) this.charset = props.charset;
    if (props.encoding !== undefined) this.encoding = props.encoding;
  }
}

/**
 * The JSON body every streamguard error response carries.
 *
 * @example
 * const frame: ErrorFrame = { code: 'ENTITY_TOO_LARGE', message: 'request entity too large', trace_id: '4bf9…' };
 */
export interface ErrorFrame {
  code: string;
  message: string;
  trace_id: string;
}

/**
 * The stable code for a dotted error type: `entity.too.large` → `ENTITY_TOO_LARGE`.
 *
 * @example
 * codeFromType('request.size.invalid'); // 'REQUEST_SIZE_INVALID'
 */
export function codeFromType(type: string): string {
  return type.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase();
}

/**
 * `PayloadTooLargeError` for 413, as http-errors names its classes.
 */
function errorName(status: number): string {
  const words = (STATUS_CODES[status] ?? 'Error').replace(/[^A-Za-z0-9 ]/g, '').split(' ');
  const name = words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
  return name.endsWith('Error') ? name : `${name}Error`;
}

/** What an error handler needs to answer any thrown value. */
export interface DescribedError {
  status: number;
  expose: boolean;
  frame: ErrorFrame;
  headers: Readonly<Record<string, string>>;
}

const STABLE_CODE = /^[A-Z][A-Z0-9_]{1,63}$/;

/**
 * Reads any thrown value the way http-errors/finalhandler do — `status` or
 * `statusCode` in 400–599, else 500; `expose` defaults to `status < 500` —
 * and turns it into an {@link ErrorFrame}. 5xx messages are never exposed.
 *
 * @example
 * const { status, frame } = describeError(err, traceId(req));
 */
export function describeError(err: unknown, traceId: string): DescribedError {
  const e = (typeof err === 'object' && err !== null ? err : {}) as Record<string, unknown>;
  const raw = typeof e.status === 'number' ? e.status : e.statusCode;
  const status =
    typeof raw === 'number' && Number.isInteger(raw) && raw >= 400 && raw <= 599 ? raw : 500;
  const expose = status < 500 && (typeof e.expose === 'boolean' ? e.expose : true);
  const fallback = STATUS_CODES[status] ?? 'Error';
  const message =
    expose && typeof e.message === 'string' && e.message !== '' ? e.message : fallback;
  let code: string;
  const isHttpErrorShape =
    typeof e.type === 'string' && typeof e.code === 'string' && STABLE_CODE.test(e.code);
  if (isHttpErrorShape || (expose && typeof e.code === 'string' && STABLE_CODE.test(e.code)))
    code = e.code as string;
  else if (typeof e.type === 'string' && e.type !== '') code = codeFromType(e.type);
  else code = codeFromType(fallback);
  const headers = status >= 400 && isStringRecord(e.headers) ? e.headers : {};
  return { status, expose, frame: { code, message, trace_id: traceId }, headers };
}

function isStringRecord(value: unknown): value is Record<string, string> {
  if (typeof value !== 'object' || value === null) return false;
  return Object.values(value).every((v) => typeof v === 'string');
}
