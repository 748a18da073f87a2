import zlib from 'node:zlib';
import { ownedConcat } from './capture.js';

/**
 * A bounded decoded copy of a compressed capture.
 *
 * @example
 * if (record.decoded && !record.decoded.truncated) JSON.parse(record.decoded.body.toString());
 */
export interface DecodedBody {
  /** The content coding that was undone (`gzip`, `deflate`, `br`). */
  encoding: string;
  /** The first decoded bytes, at most the configured limit. */
  body: Buffer;
  /** Whether more would have decoded (or the compressed capture itself was truncated). */
  truncated: boolean;
  /** Why decoding stopped early, when it failed. */
  error?: string;
  /** What `redactBody` did to this copy (set only when `redactBody` is on). */
  redaction?: 'none' | 'applied' | 'withheld';
}

/**
 * The codings {@link decodeBounded} undoes.
 *
 * @example
 * DECODABLE.has('br'); // true
 */
export const DECODABLE = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

function createDecoder(encoding: string): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress {
  if (encoding === 'br') {
    return zlib.createBrotliDecompress({ finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
  }
  if (encoding === 'deflate') {
    return zlib.createInflate({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
  }
  return zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/**
 * Decodes at most `maxBytes` of `compressed` (possibly only a head of the
 * stream: what decodes is kept). Runs on zlib's thread pool, never on the
 * response's hot path; never rejects.
 *
 * @example
 * const decoded = await decodeBounded(record.body, 'gzip', 65536);
 */
export function decodeBounded(
  compressed: Buffer,
  encoding: string,
  maxBytes: number,
  inputTruncated: boolean,
): Promise<DecodedBody> {
  const coding = encoding === 'x-gzip' ? 'gzip' : encoding;
  return new Promise<DecodedBody>(function decode(resolve) {
    const decoder = createDecoder(coding);
    const parts: Buffer[] = [];
    let held = 0;
    let truncated = inputTruncated;
    let settled = false;
    function settle(error?: unknown): void {
      if (settled) return;
      settled = true;
      decoder.off('data', onData);
      decoder.destroy();
      const result: DecodedBody = {
        encoding: coding,
        body: ownedConcat(parts, held),
        truncated,
      };
      if (error !== undefined)
        result.error = error instanceof Error ? error.message : String(error);
      resolve(result);
    }
    function onData(chunk: Buffer): void {
      const room = maxBytes - held;
      if (chunk.length > room) {
        if (room > 0) parts.push(chunk.subarray(0, room));
        held += Math.max(0, room);
        truncated = true;
        settle();
        return;
      }
      parts.push(chunk);
      held += chunk.length;
    }
    function onEnd(): void {
      settle();
    }
    function onError(error: unknown): void {
      truncated = true;
      settle(error);
    }
    decoder.on('data', onData);
    decoder.once('end', onEnd);
    decoder.once('error', onError);
    decoder.end(compressed);
  });
}
