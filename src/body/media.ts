import type { IncomingMessage } from 'node:http';

/**
 * Which requests rereadableBody reads: media types (type-is style) or a predicate.
 *
 * @example
 * rereadableBody({ type: ['json', 'application/*+json'] });
 * rereadableBody({ type: (req) => req.url?.startsWith('/webhooks/') ?? false });
 */
export type TypeOption = string | readonly string[] | ((req: IncomingMessage) => boolean);

const SHORTHANDS: Record<string, string> = {
  json: 'application/json',
  urlencoded: 'application/x-www-form-urlencoded',
  text: 'text/plain',
  html: 'text/html',
  xml: 'application/xml',
  multipart: 'multipart/*',
  form: 'application/x-www-form-urlencoded',
  bin: 'application/octet-stream',
  raw: 'application/octet-stream',
};

/**
 * Whether a request has a body, as `type-is`'s `hasBody`: a
 * Transfer-Encoding header or a numeric Content-Length.
 */
export function hasBody(req: IncomingMessage): boolean {
  const h = req.headers;
  return (
    h['transfer-encoding'] !== undefined ||
    (h['content-length'] !== undefined && !Number.isNaN(Number(h['content-length'])))
  );
}

/** The media type of `Content-Type`, lower-cased, without parameters. */
export function mediaType(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const semi = header.indexOf(';');
  const type = (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
  return /^[!#$%&'*+.^_`|~0-9a-z-]+\/[!#$%&'*+.^_`|~0-9a-z-]+$/.test(type) ? type : undefined;
}

/** The `charset` parameter of `Content-Type`, lower-cased. */
export function charsetOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i.exec(header);
  const value = m?.[1] ?? m?.[2];
  return value === undefined || value === '' ? undefined : value.toLowerCase();
}

/** Normalises a `type` pattern: shorthand names, `+json` suffixes. */
export function normalisePattern(pattern: string): string {
  const p = pattern.trim().toLowerCase();
  if (p in SHORTHANDS) return SHORTHANDS[p] as string;
  if (p.startsWith('+')) return `*/*${p}`;
  if (!p.includes('/'))
    throw new TypeError(`option type has an invalid media type ${JSON.stringify(pattern)}`);
  return p;
}

/** Whether `actual` (a bare media type) matches `pattern` (`a/b`, `a/*`, `*\/*`, `*\/*+json`). */
export function matchesType(actual: string, pattern: string): boolean {
  const [pt, ps] = pattern.split('/') as [string, string];
  const [at, as] = actual.split('/') as [string, string];
  if (pt !== '*' && pt !== at) return false;
  if (ps === '*') return true;
  if (ps.startsWith('*+')) return as.endsWith(ps.slice(1));
  return ps === as;
}

/** Builds the request predicate from the `type` option. */
export function typePredicate(option: TypeOption | undefined): (req: IncomingMessage) => boolean {
  if (option === undefined) return matchAll;
  if (typeof option === 'function') return option;
  const list = typeof option === 'string' ? [option] : option;
  if (!Array.isArray(list) || list.some((t) => typeof t !== 'string'))
    throw new TypeError('option type must be a media type, an array of them, or a function');
  const patterns = list.map(normalisePattern);
  return function matchType(req: IncomingMessage): boolean {
    const actual = mediaType(req.headers['content-type']);
    if (actual === undefined) return false;
    return patterns.some((p) => matchesType(actual, p));
  };
}

function matchAll(): boolean {
  return true;
}
