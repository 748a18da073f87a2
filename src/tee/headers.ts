import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { type HeaderValues, parseHeaderBlock } from '../core/headers.js';
import { flushedHeaderBlock } from '../core/internals.js';

/**
 * Response or request headers as a record: lower-case names, repeated ones as arrays.
 *
 * @example
 * const cookies = record.headers['set-cookie']; // string | string[] | undefined
 */
export type HeaderRecord = HeaderValues;

/**
 * The value a redacted header gets.
 *
 * @example
 * record.headers.authorization === REDACTED;
 */
export const REDACTED = '[REDACTED]';

/**
 * The headers as they went on the wire: parsed from the flushed header block
 * when Node kept it (this includes headers passed to `writeHead`, which
 * `getHeaders()` misses), else `getHeaders()`.
 *
 * @example
 * const headers = flushedHeaders(res);
 */
export function flushedHeaders(res: ServerResponse): HeaderRecord {
  const block = flushedHeaderBlock(res);
  if (block !== undefined) return parseHeaderBlock(block);
  const out: HeaderRecord = Object.create(null) as HeaderRecord;
  addHeaders(out, res.getHeaders());
  return out;
}

function addHeaders(out: HeaderRecord, headers: OutgoingHttpHeaders): void {
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.map(String) : String(value);
  }
}

/**
 * A copy of `headers` with every listed (lower-case) name's value replaced
 * by `[REDACTED]`.
 *
 * @example
 * redactHeaders({ cookie: 'a=1' }, new Set(['cookie'])); // { cookie: '[REDACTED]' }
 */
export function redactHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  redact: ReadonlySet<string>,
): HeaderRecord {
  const out: HeaderRecord = Object.create(null) as HeaderRecord;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (redact.has(lower)) out[lower] = Array.isArray(value) ? value.map(redactOne) : REDACTED;
    else out[lower] = Array.isArray(value) ? [...value] : value;
  }
  return out;
}

function redactOne(): string {
  return REDACTED;
}
