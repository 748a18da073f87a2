import type { ServerResponse } from 'node:http';
import { flushedHeaderBlock } from './internals';

/**
 * A response header's value as it went (or will go) on the wire. Node's
 * `writeHead(status, headers)` fast path sends headers without storing them,
 * so `getHeader()` can miss them; then the flushed header block is read.
 *
 * @example
 * if (sentHeader(res, 'content-type')?.startsWith('text/event-stream')) { … }
 */
export function sentHeader(res: ServerResponse, name: string): string | undefined {
  const stored = res.getHeader(name);
  if (stored !== undefined) return Array.isArray(stored) ? stored.join(', ') : String(stored);
  const block = flushedHeaderBlock(res);
  if (typeof block !== 'string') return undefined;
  const wanted = name.toLowerCase();
  for (const line of block.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === wanted)
      return line.slice(colon + 1).trim();
  }
  return undefined;
}
