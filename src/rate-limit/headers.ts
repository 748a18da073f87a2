import type { Decision, LimitState, LimitsDecision } from './policy.js';

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
  /** What an earlier limiter wrote: stacked limiters add to it instead of overwriting. */
  getHeader?(name: string): unknown;
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

  getHeader(name: string): string | undefined {
    return this.headers[name];
  }
}

/** One policy (a limit) of a limiter, rendered once. */
export interface PolicyShape {
  /** The policy's name. */
  readonly name: string;
  /** The policy's name, as an sf-string (`"default"`). */
  readonly quotedName: string;
  readonly limit: number;
  /** `limit` as header text. */
  readonly limitText: string;
  /** This policy's item of `RateLimit-Policy`. */
  readonly policy: string;
  /** The start of its draft-10 `RateLimit` item (`"default";r=`). */
  readonly itemPrefix: string;
}

/** What is fixed per limiter, rendered once. */
export interface HeaderShape extends PolicyShape {
  readonly style: HeaderStyle;
  /**
   * With several limits (`limits`), each policy in order; `RateLimit-Policy`
   * (`policy`) lists them all. `undefined` for one limit.
   */
  readonly items: readonly PolicyShape[] | undefined;
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
  return { style, ...policyShape(style, name, burst, windowMs), items: undefined };
}

/**
 * The shape of a limiter with several limits: every policy named and listed
 * (`RateLimit-Policy: "1s";q=5;w=1, "1m";q=75;w=60`).
 *
 * @example
 * const shape = limitsShape('draft-10', [{ name: '1s', burst: 5, windowMs: 1000 }]);
 */
export function limitsShape(
  style: HeaderStyle,
  limits: readonly { name: string; burst: number; windowMs: number }[],
): HeaderShape {
  const items = limits.map(function shapeOf(limit) {
    return policyShape(style, limit.name, limit.burst, limit.windowMs);
  });
  const first = items[0] as PolicyShape;
  let tightest = first;
  for (const item of items) if (item.limit < tightest.limit) tightest = item;
  return {
    style,
    ...tightest,
    policy: items.map((item) => item.policy).join(', '),
    items,
  };
}

function policyShape(
  style: HeaderStyle,
  name: string,
  burst: number,
  windowMs: number,
): PolicyShape {
  const quotedName = `"${name.replace(/[\\"]/g, '\\$&')}"`;
  const w = Math.max(1, Math.ceil(windowMs / 1000));
  const policy = style === 'draft-10' ? `${quotedName};q=${burst};w=${w}` : `${burst};w=${w}`;
  return {
    name,
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
  const style = shape.style;
  if (style === false) {
    if (!decision.allowed)
      setHeader.call(sink, 'Retry-After', String(Math.max(1, seconds(decision.retryAfter))));
    return;
  }
  // A limiter before this one on the same request (a global one, then a
  // route's) wrote its policy: add to the lists instead of overwriting.
  const earlier =
    sink.getHeader === undefined
      ? undefined
      : sink.getHeader(style === 'legacy' ? 'X-RateLimit-Limit' : 'RateLimit-Policy');
  const stacked = typeof earlier === 'string' && earlier !== '';
  const blocked = decision.blocked > 0;
  const items = shape.items;
  const parts = (decision as Partial<LimitsDecision>).limits;
  if (style === 'draft-10') {
    let value: string;
    if (items === undefined)
      value = `${shape.itemPrefix}${count(decision.remaining)};t=${seconds(blocked ? decision.blocked : decision.reset)}`;
    else {
      value = '';
      for (let i = 0; i < items.length; i++) {
        const part: LimitState = parts?.[i] ?? decision;
        const t = seconds(blocked ? decision.blocked : part.reset);
        value += `${i === 0 ? '' : ', '}${(items[i] as PolicyShape).itemPrefix}${count(part.remaining)};t=${t}`;
      }
    }
    if (stacked) {
      setHeader.call(sink, 'RateLimit-Policy', `${earlier}, ${shape.policy}`);
      setHeader.call(sink, 'RateLimit', `${String(sink.getHeader?.('RateLimit') ?? '')}, ${value}`);
    } else {
      setHeader.call(sink, 'RateLimit-Policy', shape.policy);
      setHeader.call(sink, 'RateLimit', value);
    }
  } else {
    // draft-6 and legacy have one Limit/Remaining/Reset: the tightest policy
    // (least remaining) of this limiter, or of an earlier one if tighter.
    let limitText = shape.limitText;
    let remaining = decision.remaining;
    let reset = decision.reset;
    if (items !== undefined && parts !== undefined) {
      let best = 0;
      for (let i = 1; i < parts.length; i++)
        if ((parts[i] as LimitState).remaining < (parts[best] as LimitState).remaining) best = i;
      limitText = (items[best] as PolicyShape).limitText;
      remaining = (parts[best] as LimitState).remaining;
      reset = (parts[best] as LimitState).reset;
    }
    const prefix = style === 'legacy' ? 'X-RateLimit-' : 'RateLimit-';
    const earlierRemaining = stacked ? Number(sink.getHeader?.(`${prefix}Remaining`)) : Number.NaN;
    if (style === 'draft-6')
      setHeader.call(
        sink,
        'RateLimit-Policy',
        stacked ? `${earlier}, ${shape.policy}` : shape.policy,
      );
    if (!(earlierRemaining <= remaining)) {
      const resetSeconds = seconds(blocked ? decision.blocked : reset);
      setHeader.call(sink, `${prefix}Limit`, limitText);
      setHeader.call(sink, `${prefix}Remaining`, count(remaining));
      setHeader.call(
        sink,
        `${prefix}Reset`,
        style === 'legacy' ? count(Math.ceil(now / 1000) + resetSeconds) : String(resetSeconds),
      );
    }
  }
  if (!decision.allowed)
    setHeader.call(sink, 'Retry-After', String(Math.max(1, seconds(decision.retryAfter))));
}

/**
 * The headers a 429 carries (error handlers reset the response's headers):
 * what the response holds already, this limiter's and any earlier stacked
 * limiter's, or, when the response's headers are out, this decision's own.
 *
 * @example
 * const headers = rejectionHeaders(res, shape, decision, Date.now());
 */
export function rejectionHeaders(
  res: HeaderSink & { readonly headersSent?: boolean },
  shape: HeaderShape,
  decision: Decision,
  now: number,
): Record<string, string> {
  const record = new HeaderRecord();
  if (res.headersSent !== true && res.getHeader !== undefined && shape.style !== false) {
    const names =
      shape.style === 'draft-10'
        ? DRAFT10_NAMES
        : shape.style === 'draft-6'
          ? DRAFT6_NAMES
          : LEGACY_NAMES;
    for (const name of names) {
      const value = res.getHeader(name);
      if (typeof value === 'string') record.headers[name] = value;
    }
  }
  if (Object.keys(record.headers).length === 0) {
    writeRateLimitHeaders(record, shape, decision, now);
    return record.headers;
  }
  record.headers['Retry-After'] = String(Math.max(1, seconds(decision.retryAfter)));
  return record.headers;
}

const DRAFT10_NAMES = ['RateLimit-Policy', 'RateLimit'];
const DRAFT6_NAMES = [
  'RateLimit-Policy',
  'RateLimit-Limit',
  'RateLimit-Remaining',
  'RateLimit-Reset',
];
const LEGACY_NAMES = ['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'];

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
