import type { Decision } from './policy';

/**
 * Which rate limit headers to send: `'draft-10'` (the IETF
 * draft-ietf-httpapi-ratelimit-headers structured fields `RateLimit-Policy`
 * and `RateLimit`), `'draft-6'` (`RateLimit-Limit`/`-Remaining`/`-Reset` and
 * `RateLimit-Policy: q;w=…`), `'legacy'` (`X-RateLimit-*`, reset as epoch
 * seconds) or `false` (none but `Retry-After` on 429).
 *
 * @example
 * rateLimit({ headers: 'draft-6' });
 */
export type HeaderStyle = 'draft-10' | 'draft-6' | 'legacy' | false;

/**
 * Where {@link writeRateLimitHeaders} puts the headers: a `ServerResponse`,
 * or a {@link HeaderRecord} for the 429 error (error handlers reset the
 * response's headers, so the error carries its own).
 */
export interface HeaderSink {
  setHeader(name: string, value: string): unknown;
}

/**
 * A plain record of header values, filled through `setHeader`.
 *
 * @example
 * const record = new HeaderRecord();
 * writeRateLimitHeaders(record, shape, decision, Date.now());
 * new HttpError(429, 'rate.limit.exceeded', 'slow down', { headers: record.headers });
 */
export class HeaderRecord implements HeaderSink {
  readonly headers: Record<string, string> = {};

  setHeader(name: string, value: string): void {
    this.headers[name] = value;
  }
}

/** What is fixed per limiter, rendered once. */
export interface HeaderShape {
  readonly style: HeaderStyle;
  /** The quota policy's name, as an sf-string (`"default"`). */
  readonly quotedName: string;
  readonly limit: number;
  /** `limit` as header text. */
  readonly limitText: string;
  /** The `RateLimit-Policy` value, precomputed. */
  readonly policy: string;
  /** The start of the draft-10 `RateLimit` value (`"default";r=`), precomputed. */
  readonly itemPrefix: string;
}

/**
 * Precomputes what does not change per request. The window `w` is the time
 * an empty bucket takes to fill: `burst · interval / rate`, in whole seconds
 * (at least 1).
 *
 * @example
 * const shape = headerShape('draft-10', 'default', 30, 3000);
 */
export function headerShape(
  style: HeaderStyle,
  name: string,
  burst: number,
  windowMs: number,
): HeaderShape {
  const quotedName = `"${name.replace(/[\\"]/g, '\\$&')}"`;
  const w = Math.max(1, Math.ceil(windowMs / 1000));
  const policy = style === 'draft-10' ? `${quotedName};q=${burst};w=${w}` : `${burst};w=${w}`;
  return {
    style,
    quotedName,
    limit: burst,
    limitText: String(burst),
    policy,
    itemPrefix: `${quotedName};r=`,
  };
}

/**
 * Seconds, rounded up, never negative.
 *
 * @example
 * seconds(1200); // 2
 */
export function seconds(ms: number): number {
  // NaN (a non-numeric store reply) and negatives are 0; Infinity (a cost of 1e308) is clamped.
  if (!(ms > 0)) return 0;
  const s = Math.ceil(ms / 1000);
  return s > MAX_HEADER_INTEGER ? MAX_HEADER_INTEGER : s;
}

/**
 * The largest value written to a rate limit header: 2^31 − 1 (68 years in
 * seconds), so every header is a plain integer a client can parse, never
 * `Infinity`, `NaN` or an exponent.
 */
const MAX_HEADER_INTEGER = 2_147_483_647;

/** A count for a header: a whole number in [0, 2^31 − 1]. */
function count(n: number): string {
  if (!(n > 0)) return '0';
  return String(n >= MAX_HEADER_INTEGER ? MAX_HEADER_INTEGER : Math.floor(n));
}

/**
 * Writes the headers for `decision` to `sink` (the response, or a
 * {@link HeaderRecord}); `Retry-After` is added on every rejection whatever
 * the style. Straight `setHeader` calls, the method looked up once (on an
 * Express response every lookup misses V8's caches): this runs on every
 * request.
 *
 * @example
 * const record = new HeaderRecord();
 * writeRateLimitHeaders(record, shape, decision, Date.now());
 */
export function writeRateLimitHeaders(
  sink: HeaderSink,
  shape: HeaderShape,
  decision: Decision,
  now: number,
): void {
  const setHeader = sink.setHeader;
  const reset = seconds(decision.blocked > 0 ? decision.blocked : decision.reset);
  switch (shape.style) {
    case 'draft-10':
      setHeader.call(sink, 'RateLimit-Policy', shape.policy);
      setHeader.call(
        sink,
        'RateLimit',
        `${shape.itemPrefix}${count(decision.remaining)};t=${reset}`,
      );
      break;
    case 'draft-6':
      setHeader.call(sink, 'RateLimit-Policy', shape.policy);
      setHeader.call(sink, 'RateLimit-Limit', shape.limitText);
      setHeader.call(sink, 'RateLimit-Remaining', count(decision.remaining));
      setHeader.call(sink, 'RateLimit-Reset', String(reset));
      break;
    case 'legacy':
      setHeader.call(sink, 'X-RateLimit-Limit', shape.limitText);
      setHeader.call(sink, 'X-RateLimit-Remaining', count(decision.remaining));
      setHeader.call(sink, 'X-RateLimit-Reset', count(Math.ceil(now / 1000) + reset));
      break;
    default:
      break;
  }
  if (!decision.allowed)
    setHeader.call(sink, 'Retry-After', String(Math.max(1, seconds(decision.retryAfter))));
}

/**
 * Only what does not depend on a bucket: the policy (`RateLimit-Policy`, or
 * `X-RateLimit-Limit` for `'legacy'`). For a request no bucket was asked
 * about (a cost above `burst`).
 *
 * @example
 * writePolicyHeaders(record, shape);
 */
export function writePolicyHeaders(sink: HeaderSink, shape: HeaderShape): void {
  if (shape.style === 'draft-10' || shape.style === 'draft-6')
    sink.setHeader('RateLimit-Policy', shape.policy);
  else if (shape.style === 'legacy') sink.setHeader('X-RateLimit-Limit', shape.limitText);
}

/**
 * {@link writeRateLimitHeaders} to a response, unless its headers are out
 * already (an earlier middleware flushed them): then nothing is written.
 * Instead of reading `res.headersSent` first (a getter, and another uncached
 * lookup on an Express response) it lets `setHeader` refuse: Node checks
 * that before it changes anything, so the first header either goes in or
 * none does.
 *
 * @example
 * writeResponseHeaders(res, shape, decision, Date.now());
 */
export function writeResponseHeaders(
  res: HeaderSink,
  shape: HeaderShape,
  decision: Decision,
  now: number,
): void {
  try {
    writeRateLimitHeaders(res, shape, decision, now);
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code !== 'ERR_HTTP_HEADERS_SENT') throw error;
  }
}
