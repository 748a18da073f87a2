/**
 * The bytes a `write(chunk, encoding)` call puts on the wire, as a Buffer
 * (a view for Buffers and Uint8Arrays, a conversion for strings), or
 * `undefined` when the chunk is not something Node writes.
 *
 * @example
 * chunkBytes('ff00', 'hex'); // <Buffer ff 00>
 */
export function chunkBytes(chunk: unknown, encoding: unknown): Buffer | undefined {
  if (typeof chunk === 'string') {
    return Buffer.from(chunk, isEncoding(encoding) ? encoding : 'utf8');
  }
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array)
    return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return undefined;
}

/**
 * How many bytes a chunk is on the wire, without copying it.
 *
 * @example
 * chunkLength('héllo', 'utf8'); // 6
 */
export function chunkLength(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') {
    return Buffer.byteLength(chunk, isEncoding(encoding) ? encoding : 'utf8');
  }
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

function isEncoding(value: unknown): value is BufferEncoding {
  return typeof value === 'string' && Buffer.isEncoding(value);
}
