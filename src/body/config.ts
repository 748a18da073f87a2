import type { IncomingMessage, ServerResponse } from 'node:http';
import { booleanOption, functionOption, numberOption, readOptions } from '../core/options.js';
import { parseBytes, parseDuration } from '../core/units.js';
import { leasePeak, showBytes } from './budget.js';
import { type TypeOption, typePredicate } from './media.js';
import { BufferPool } from './pool.js';

/**
 * Options for `rereadableBody()`.
 *
 * @example
 * const options: RereadableBodyOptions = { limit: '256kb', type: ['json', '+json'] };
 */
export interface RereadableBodyOptions {
  /** Most decoded bytes a body may have (`bytes` string or number). Default `'1mb'`. */
  limit?: number | string;
  /** Which requests to read: media types (`'json'`, `'application/*'`, `'+json'`) or a predicate. Default: every request with a body. */
  type?: TypeOption;
  /** Called with the exact bytes before `next()`; a throw is a 403 `entity.verify.failed`, as body-parser. */
  verify?: (req: IncomingMessage, res: ServerResponse, buf: Buffer) => void;
  /**
   * Most bytes on the wire (compressed bytes, before inflation); past it a
   * 413 `entity.too.large` with `encoding` set, and the request is no longer
   * read. Default: `limit` + 1/1024 of it + 1 KiB, what any encoder needs at
   * most for a body of `limit` decoded bytes (incompressible data included).
   */
  wireLimit?: number | string;
  /** Inflate gzip/deflate/br bodies; when false they are a 415. Default `true`. */
  inflate?: boolean;
  /** Largest inflated/compressed ratio accepted (zip-bomb guard). Default `100`. */
  maxInflationRatio?: number;
  /** After an error, at most this many more bytes are drained before the connection is closed. Default `'1mb'`. */
  drainLimit?: number | string;
  /** The pool to lease from; default a pool of its own (see {@link BufferPool}). */
  pool?: BufferPool;
  /**
   * Most time without a body byte (reset on every chunk) before a 408
   * `request.timeout`; the answer closes the connection. `ms` string or
   * milliseconds; `false` or `0`: no bound. Default `'30s'`.
   */
  timeout?: number | string | false;
  /**
   * Most time a `body.stream()` may stay open after the response is done;
   * past it the stream is destroyed and its hold on pooled memory ends.
   * `false` or `0`: no bound. Default `'30s'`.
   */
  streamTimeout?: number | string | false;
}

/**
 * The options of one `rereadableBody()` factory, validated and normalised once.
 *
 * @example
 * const config = readConfig({ limit: '256kb' });
 * config.limit; // 262144
 */
export interface Config {
  readonly limit: number;
  readonly wireLimit: number;
  readonly maxInflationRatio: number;
  readonly inflate: boolean;
  readonly drainLimit: number;
  readonly timeout: number;
  readonly streamTimeout: number;
  readonly pool: BufferPool;
  readonly matches: (req: IncomingMessage) => boolean;
  readonly verify: ((req: IncomingMessage, res: ServerResponse, buf: Buffer) => void) | undefined;
}

/**
 * Validates `options` (a bad one is a `TypeError` naming it) into a frozen {@link Config}.
 *
 * @example
 * const config = readConfig(options);
 */
export function readConfig(options: RereadableBodyOptions | undefined): Config {
  const o = readOptions(options, 'rereadableBody', [
    'limit',
    'wireLimit',
    'type',
    'verify',
    'inflate',
    'maxInflationRatio',
    'drainLimit',
    'pool',
    'timeout',
    'streamTimeout',
  ]);
  const limit = parseBytes(o.limit ?? '1mb', 'limit');
  if (o.pool !== undefined && !(o.pool instanceof BufferPool))
    throw new TypeError('option pool must be a BufferPool');
  const pool = o.pool ?? defaultPool(limit);
  if (o.pool !== undefined) checkBudget(o.pool, limit);
  return Object.freeze({
    limit,
    wireLimit:
      o.wireLimit === undefined ? defaultWireLimit(limit) : parseBytes(o.wireLimit, 'wireLimit'),
    maxInflationRatio: numberOption(o.maxInflationRatio, 'maxInflationRatio', 100, 1, false),
    inflate: booleanOption(o.inflate, 'inflate', true),
    drainLimit: parseBytes(o.drainLimit ?? '1mb', 'drainLimit'),
    timeout: durationOrOff(o.timeout, 'timeout', '30s'),
    streamTimeout: durationOrOff(o.streamTimeout, 'streamTimeout', '30s'),
    pool,
    matches: typePredicate(o.type),
    verify: functionOption(o.verify, 'verify'),
  });
}

/**
 * The default `wireLimit`: a body of `limit` decoded bytes needs at most
 * this many compressed bytes from any encoder, even for incompressible data
 * (deflate's stored blocks add 5 bytes per 64 KiB, gzip 18 bytes of header
 * and trailer, brotli a few bytes per meta-block), with room for a short
 * gzip file name or comment.
 */
function defaultWireLimit(limit: number): number {
  return limit + Math.ceil(limit / 1024) + 1024;
}

/** The default pool's budget when `limit` does not ask for more: 64 MiB. */
const DEFAULT_IN_FLIGHT = 64 * 1024 * 1024;

/**
 * The middleware's own pool: classes up to `limit`, and a budget of at
 * least what one body of `limit` bytes holds while its lease grows, so a
 * large `limit` is never a 503 on an idle server.
 */
function defaultPool(limit: number): BufferPool {
  const maxClass = Math.max(limit, 1024);
  const peak = leasePeak(new BufferPool({ maxClass, maxInFlight: 0 }), limit);
  return new BufferPool({ maxClass, maxInFlight: Math.max(DEFAULT_IN_FLIGHT, peak) });
}

/** A user's pool must fit one body of `limit` bytes, else every large body would be a 503. */
function checkBudget(pool: BufferPool, limit: number): void {
  const peak = leasePeak(pool, limit);
  if (pool.maxInFlight < peak) {
    throw new TypeError(
      `option limit (${showBytes(limit)}) needs a pool with maxInFlight >= ${showBytes(peak)} ` +
        `(a body of limit bytes briefly holds two size classes while its lease grows); ` +
        `option pool.maxInFlight is ${showBytes(pool.maxInFlight)}`,
    );
  }
}

/** A duration option that `false` or `0` switches off (returned as 0). */
function durationOrOff(value: unknown, option: string, fallback: string): number {
  if (value === false) return 0;
  return parseDuration(value ?? fallback, option);
}
