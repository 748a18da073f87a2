import type { ServerResponse } from 'node:http';
import { flushedHeaderBlock } from './internals.js';

/**
 * Header values as a record: lower-case names, repeated ones as arrays.
 *
 * @example
 * const cookies = record['set-cookie']; // string | string[] | undefined
 */
export type HeaderValues = Record<string, string | string[]>;

/**
 * The first value of a request header Node may give as a list (`string[]`), or the value.
 *
 * @example
 * firstHeaderValue(req.headers['content-encoding']); // 'gzip' | undefined
 */
export function firstHeaderValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Walks the header lines of a flushed header block (`HTTP/1.1 200 OK\r\nName: value\r\n…`),
 * skipping the status line, and calls `visit` with each lower-case name and trimmed value;
 * stops early when `visit` returns `true`. The one header-block parser of the package.
 *
 * @example
 * eachHeaderLine(block, (name, value) => {
 *   if (name === 'set-cookie') cookies.push(value);
 *   return false; // keep going
 * });
 */
export function eachHeaderLine(
  block: string,
  visit: (name: string, value: string) => boolean,
): void {
  const lines = block.split('\r\n');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    if (visit(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()) === true)
      return;
  }
}

/**
 * Parses a flushed header block into a {@link HeaderValues} record (repeated names as arrays).
 *
 * @example
 * parseHeaderBlock('HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\n'); // { 'x-a': '1' }
 */
export function parseHeaderBlock(block: string): HeaderValues {
  const out: HeaderValues = Object.create(null) as HeaderValues;
  eachHeaderLine(block, function appendHeader(name, value): boolean {
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[name] = [existing, value];
    return false;
  });
  return out;
}

/**
 * A response header's value as it went (or will go) on the wire. Node's
 * `writeHead(status, headers)` fast path sends headers without storing them,
 * so `getHeader()` can miss them; then the flushed header block is read
 * (its first line of that name).
 *
 * @example
 * if (sentHeader(res, 'content-type')?.startsWith('text/event-stream')) { … }
 */
export function sentHeader(res: ServerResponse, name: string): string | undefined {
  const stored = res.getHeader(name);
  if (stored !== undefined) return Array.isArray(stored) ? stored.join(', ') : String(stored);
  const block = flushedHeaderBlock(res);
  if (block === undefined) return undefined;
  const wanted = name.toLowerCase();
  let found: string | undefined;
  eachHeaderLine(block, function findHeader(lower, value): boolean {
    if (lower !== wanted) return false;
    found = value;
    return true;
  });
  return found;
}
