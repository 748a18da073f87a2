import { isUtf8 } from 'node:buffer';
import { firstHeaderValue } from '../core/headers.js';

/**
 * How a captured body is written in a record's JSON: `text` (the bytes as a
 * UTF-8 or Latin-1 string) or `base64`.
 *
 * @example
 * const bytes = json.bodyFormat === 'text' ? Buffer.from(json.body) : Buffer.from(json.body, 'base64');
 */
export type BodyFormat = 'text' | 'base64';

/**
 * A captured body as `record.toJSON()` writes it.
 *
 * @example
 * const { body, tail, bodyFormat } = toJsonBody(record.body, record.tail, 'application/json', 'identity', false);
 */
export interface JsonBody {
  body: string;
  tail: string;
  bodyFormat: BodyFormat;
}

const TEXT_SUBTYPES = new Set([
  'json',
  'xml',
  'x-www-form-urlencoded',
  'x-ndjson',
  'ndjson',
  'jsonl',
  'x-jsonlines',
  'javascript',
  'ecmascript',
  'graphql',
  'yaml',
  'x-yaml',
]);

/**
 * Whether a `Content-Type` names text: `text/*` (event streams included),
 * JSON and `+json`, XML and `+xml`, form-urlencoded, NDJSON/JSON Lines,
 * JavaScript, GraphQL and YAML.
 *
 * @example
 * isTextType('application/problem+json; charset=utf-8'); // true
 * isTextType('image/png'); // false
 */
export function isTextType(contentType: string | string[] | undefined): boolean {
  const type = essence(contentType);
  if (type === '') return false;
  const slash = type.indexOf('/');
  if (slash < 0) return false;
  const top = type.slice(0, slash);
  const sub = type.slice(slash + 1);
  if (top === 'text') return true;
  if (top !== 'application') return false;
  if (TEXT_SUBTYPES.has(sub)) return true;
  return sub.endsWith('+json') || sub.endsWith('+xml');
}

/**
 * The bytes of one capture as JSON strings. Text (by {@link isTextType},
 * with no content coding) is written as a string when it decodes losslessly:
 * valid UTF-8 (a multi-byte character cut by the head/tail bounds is
 * allowed, and becomes U+FFFD), or any bytes under a Latin-1/ASCII charset.
 * Everything else — binary types, compressed bytes, text that is not valid
 * UTF-8 — is base64, so no byte is lost.
 *
 * @example
 * toJsonBody(Buffer.from('{"a":1}'), Buffer.alloc(0), 'application/json', 'identity', false);
 * // { body: '{"a":1}', tail: '', bodyFormat: 'text' }
 */
export function toJsonBody(
  body: Buffer,
  tail: Buffer,
  contentType: string | string[] | undefined,
  coding: string | undefined,
  truncated: boolean,
): JsonBody {
  if ((coding === undefined || coding === 'identity') && isTextType(contentType)) {
    const latin1 = isLatin1(contentType);
    if (latin1)
      return { body: body.toString('latin1'), tail: tail.toString('latin1'), bodyFormat: 'text' };
    if (utf8Head(body, truncated) && utf8Tail(tail))
      return { body: body.toString('utf8'), tail: tail.toString('utf8'), bodyFormat: 'text' };
  }
  return { body: body.toString('base64'), tail: tail.toString('base64'), bodyFormat: 'base64' };
}

function essence(contentType: string | string[] | undefined): string {
  const value = firstHeaderValue(contentType);
  if (value === undefined) return '';
  const semi = value.indexOf(';');
  return (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
}

const CHARSET = /;\s*charset\s*=\s*"?([^";\s]+)/i;
const LATIN1 = new Set(['iso-8859-1', 'latin1', 'l1', 'us-ascii', 'ascii']);

function isLatin1(contentType: string | string[] | undefined): boolean {
  const value = firstHeaderValue(contentType);
  const charset = value === undefined ? undefined : CHARSET.exec(value)?.[1];
  return charset !== undefined && LATIN1.has(charset.toLowerCase());
}

/** Valid UTF-8, except that a truncated head may end inside a character (an incomplete sequence). */
function utf8Head(body: Buffer, truncated: boolean): boolean {
  if (isUtf8(body)) return true;
  if (!truncated) return false;
  // Back over up to 3 continuation bytes to the lead byte of the last character.
  let lead = body.length - 1;
  while (lead > 0 && body.length - lead < 4 && (body[lead]! & 0xc0) === 0x80) lead--;
  const need = sequenceLength(body[lead]!);
  return need > body.length - lead && isUtf8(body.subarray(0, lead));
}

function sequenceLength(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 0;
}

/** Valid UTF-8, except that a tail may start inside a character (continuation bytes). */
function utf8Tail(tail: Buffer): boolean {
  let start = 0;
  while (start < 3 && start < tail.length && (tail[start]! & 0xc0) === 0x80) start++;
  return isUtf8(tail.subarray(start));
}
