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
  return { style, quotedName, limit: burst, limitText: String(burst), policy };
}

/**
 * Seconds, rounded up, never negative.
 *
 * @example
 * seconds(1200); // 2
 */
export function seconds(ms: number): number {
  return ms <= 0 ? 0 : Math.ceil(ms / 1000);
}

/**
 * Writes the headers for `decision` to `sink` (the response, or a
 * {@link HeaderRecord}); `Retry-After` is added on every rejection whatever
 * the style. Straight `setHeader` calls: this runs on every request.
 *
 * @example
 * if (!res.headersSent) writeRateLimitHeaders(res, shape, decision, Date.now());
 */
export function writeRateLimitHeaders(
  sink: HeaderSink,
  shape: HeaderShape,
  decision: Decision,
  now: number,
): void {
  const reset = seconds(decision.blocked > 0 ? decision.blocked : decision.reset);
  switch (shape.style) {
    case 'draft-10':
      sink.setHeader('RateLimit-Policy', shape.policy);
      sink.setHeader('RateLimit', `${shape.quotedName};r=${decision.remaining};t=${reset}`);
      break;
    case 'draft-6':
      sink.setHeader('RateLimit-Policy', shape.policy);
      sink.setHeader('RateLimit-Limit', shape.limitText);
      sink.setHeader('RateLimit-Remaining', String(decision.remaining));
      sink.setHeader('RateLimit-Reset', String(reset));
      break;
    case 'legacy':
      sink.setHeader('X-RateLimit-Limit', shape.limitText);
      sink.setHeader('X-RateLimit-Remaining', String(decision.remaining));
      sink.setHeader('X-RateLimit-Reset', String(Math.ceil((now + reset * 1000) / 1000)));
      break;
    default:
      break;
  }
  if (!decision.allowed)
    sink.setHeader('Retry-After', String(Math.max(1, seconds(decision.retryAfter))));
}
