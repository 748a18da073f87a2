import { getHashes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import { type Logger, loggerOption } from '../core/logger.js';
import { functionOption, readOptions } from '../core/options.js';
import { parseBytes, show } from '../core/units.js';
import type { TeeRecord } from './record.js';
import { type BodyRedactor, type RedactBodyConfig, redactBodyOption } from './redact.js';

/**
 * The headers redacted by default, in requests and responses.
 *
 * @example
 * responseTee({ redact: [...DEFAULT_REDACT, 'x-api-key'] });
 */
export const DEFAULT_REDACT: readonly string[] = [
  'authorization',
  'cookie',
  'set-cookie',
  'proxy-authorization',
];

/**
 * Request-side capture: the request body as the application reads it.
 *
 * @example
 * responseTee({ request: { maxBytes: '16kb' }, onFinish });
 */
export interface TeeRequestOptions {
  /** Head bytes kept. Default: the response's `maxBytes`. */
  maxBytes?: number | string;
  /** Tail bytes kept. Default 0. */
  tailBytes?: number | string;
}

/**
 * Options of {@link responseTee}.
 *
 * @example
 * const options: ResponseTeeOptions = { maxBytes: '64kb', onFinish: (r) => console.log(r.status) };
 */
export interface ResponseTeeOptions {
  /** Called once per response, after it closed, off the hot path. */
  onFinish?: (record: TeeRecord) => unknown;
  /** Head bytes of the body kept. Default `'64kb'`. */
  maxBytes?: number | string;
  /** Also keep the last `tailBytes` of a body longer than `maxBytes`. Default 0 (head only). */
  tailBytes?: number | string;
  /** Cap on bytes all in-flight captures of this factory hold together. Default `'64mb'`. */
  maxInFlightBytes?: number | string;
  /** Header names (any case) whose values are replaced by `[REDACTED]`. Default authorization, cookie, set-cookie, proxy-authorization. */
  redact?: readonly string[];
  /** Digest of every body byte (e.g. `'sha256'`), computed while streaming, without keeping the bytes. Default none. */
  hash?: string;
  /** Decode a gzip/deflate/br capture into `record.decoded` (bounded by `maxBytes`, or this size). Default false. */
  decode?: boolean | number | string;
  /** Capture the request body as it is read (never reads it itself). Default false. */
  request?: boolean | TeeRequestOptions;
  /**
   * Called once per response, after it closed (status and headers known, as
   * morgan's `skip`); a truthy result drops the record: no `onFinish`, no
   * capture event. A throw is logged and the record kept. Default none.
   */
  skip?(req: IncomingMessage, res: ServerResponse): unknown;
  /**
   * Body redaction, applied to both sides before `onFinish`: dotted JSON paths
   * (`['password', 'card.number']`, `*` for any key) whose values become
   * `[REDACTED]` in JSON, NDJSON and form bodies, or a function returning the
   * bytes to keep. Default none.
   */
  redactBody?: readonly string[] | BodyRedactor;
  /**
   * Called once per request when the tee starts: a Writable that gets every
   * response body byte as it is sent (the complete data, unbounded by
   * `maxBytes`), or `undefined` for none. It is ended when the response
   * completed, destroyed otherwise. The response never waits for it. Default none.
   */
  sink?(req: IncomingMessage, res: ServerResponse): Writable | undefined;
  /** Bytes a sink may have queued before it is cut (`record.sink.truncated`). Default `'1mb'`. */
  sinkMaxQueue?: number | string;
  /** Where onFinish failures go. Default: one line on `console.warn`. */
  logger?: Logger;
}

/**
 * The validated, normalised configuration of one factory.
 *
 * @example
 * const config: TeeConfig = readTeeConfig({ maxBytes: '1kb' });
 */
export interface TeeConfig {
  readonly onFinish: ((record: TeeRecord) => unknown) | undefined;
  readonly maxBytes: number;
  readonly tailBytes: number;
  readonly maxInFlightBytes: number;
  readonly redact: ReadonlySet<string>;
  readonly hash: string | undefined;
  readonly decodeBytes: number;
  readonly request: { readonly maxBytes: number; readonly tailBytes: number } | undefined;
  readonly skip: ((req: IncomingMessage, res: ServerResponse) => unknown) | undefined;
  readonly redactBody: RedactBodyConfig | undefined;
  readonly sink: ((req: IncomingMessage, res: ServerResponse) => unknown) | undefined;
  readonly sinkMaxQueue: number;
  readonly logger: Logger;
}

const KNOWN = [
  'onFinish',
  'maxBytes',
  'tailBytes',
  'maxInFlightBytes',
  'redact',
  'hash',
  'decode',
  'request',
  'skip',
  'redactBody',
  'sink',
  'sinkMaxQueue',
  'logger',
] as const;

/**
 * Validates `responseTee` options once into a frozen {@link TeeConfig}.
 *
 * @example
 * const config = readTeeConfig({ maxBytes: '1mb' });
 */
export function readTeeConfig(options: ResponseTeeOptions | undefined): TeeConfig {
  const o = readOptions(options, 'responseTee', KNOWN);
  const maxBytes = o.maxBytes === undefined ? 64 * 1024 : parseBytes(o.maxBytes, 'maxBytes');
  const tailBytes = o.tailBytes === undefined ? 0 : parseBytes(o.tailBytes, 'tailBytes');
  return Object.freeze({
    onFinish: functionOption(o.onFinish, 'onFinish'),
    maxBytes,
    tailBytes,
    maxInFlightBytes:
      o.maxInFlightBytes === undefined
        ? 64 * 1024 * 1024
        : parseBytes(o.maxInFlightBytes, 'maxInFlightBytes'),
    redact: redactOption(o.redact),
    hash: hashOption(o.hash),
    decodeBytes: decodeOption(o.decode, maxBytes),
    request: requestOption(o.request, maxBytes),
    skip: functionOption(o.skip, 'skip'),
    redactBody: redactBodyOption(o.redactBody),
    sink: functionOption(o.sink, 'sink'),
    sinkMaxQueue: sinkQueueOption(o.sinkMaxQueue),
    logger: loggerOption(o.logger),
  });
}

function redactOption(value: unknown): ReadonlySet<string> {
  if (value === undefined) return new Set(DEFAULT_REDACT);
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) {
    throw new TypeError(`option redact must be an array of header names, got ${show(value)}`);
  }
  return new Set(value.map((v: string) => v.toLowerCase()));
}

function hashOption(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !getHashes().includes(value.toLowerCase())) {
    throw new TypeError(
      `option hash must be a hash algorithm name such as 'sha256', got ${show(value)}`,
    );
  }
  return value.toLowerCase();
}

function decodeOption(value: unknown, maxBytes: number): number {
  if (value === undefined || value === false) return 0;
  if (value === true) return maxBytes;
  if (typeof value === 'number' || typeof value === 'string') {
    const n = parseBytes(value, 'decode');
    if (n > 0) return n;
  }
  throw new TypeError(
    `option decode must be a boolean or a positive byte size, got ${show(value)}`,
  );
}

function requestOption(
  value: unknown,
  maxBytes: number,
): { readonly maxBytes: number; readonly tailBytes: number } | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return Object.freeze({ maxBytes, tailBytes: 0 });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`option request must be a boolean or an object, got ${show(value)}`);
  }
  const r = readOptions(value as TeeRequestOptions, 'responseTee request', [
    'maxBytes',
    'tailBytes',
  ]);
  return Object.freeze({
    maxBytes: r.maxBytes === undefined ? maxBytes : parseBytes(r.maxBytes, 'request.maxBytes'),
    tailBytes: r.tailBytes === undefined ? 0 : parseBytes(r.tailBytes, 'request.tailBytes'),
  });
}

function sinkQueueOption(value: unknown): number {
  if (value === undefined) return 1024 * 1024;
  if (typeof value === 'number' || typeof value === 'string') {
    const n = parseBytes(value, 'sinkMaxQueue');
    if (n > 0) return n;
  }
  throw new TypeError(`option sinkMaxQueue must be a positive byte size, got ${show(value)}`);
}
