import type { ServerResponse } from 'node:http';
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

/** The header values for one decision, as name/value pairs. */
export type HeaderPairs = [string, string][];

/** What is fixed per limiter, rendered once. */
export interface HeaderShape {
  readonly style: HeaderStyle;
  /** The quota policy's name, as an sf-string (`"default"`). */
  readonly quotedName: string;
  readonly limit: number;
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
  return { style, quotedName, limit: burst, policy };
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
 * Sets the headers for `decision` on `res` and returns them (the 429 error
 * carries them, since error handlers reset the response's headers).
 * `Retry-After` is added on every rejection whatever the style.
 *
 * @example
 * const pairs = setRateLimitHeaders(res, shape, decision, Date.now());
 */
export function setRateLimitHeaders(
  res: ServerResponse,
  shape: HeaderShape,
  decision: Decision,
  now: number,
): HeaderPairs {
  const pairs: HeaderPairs = [];
  const reset = seconds(decision.blocked > 0 ? decision.blocked : decision.reset);
  switch (shape.style) {
    case 'draft-10':
      pairs.push(['RateLimit-Policy', shape.policy]);
      pairs.push(['RateLimit', `${shape.quotedName};r=${decision.remaining};t=${reset}`]);
      break;
    case 'draft-6':
      pairs.push(['RateLimit-Policy', shape.policy]);
      pairs.push(['RateLimit-Limit', String(shape.limit)]);
      pairs.push(['RateLimit-Remaining', String(decision.remaining)]);
      pairs.push(['RateLimit-Reset', String(reset)]);
      break;
    case 'legacy':
      pairs.push(['X-RateLimit-Limit', String(shape.limit)]);
      pairs.push(['X-RateLimit-Remaining', String(decision.remaining)]);
      pairs.push(['X-RateLimit-Reset', String(Math.ceil((now + reset * 1000) / 1000))]);
      break;
    default:
      break;
  }
  if (!decision.allowed)
    pairs.push(['Retry-After', String(Math.max(1, seconds(decision.retryAfter)))]);
  if (!res.headersSent) for (const [name, value] of pairs) res.setHeader(name, value);
  return pairs;
}
