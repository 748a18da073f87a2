import { Readable } from 'node:stream';
import { TextDecoder } from 'node:util';
import { charsetUnsupported, parseFailed, streamTimedOut } from './errors.js';
import { charsetOf } from './media.js';
import { type Lease, releasedError } from './pool.js';

/** Size of the chunks replays and streams emit. */
export const CHUNK = 64 * 1024;

/**
 * The request body, read once into pooled memory and readable again as often
 * as needed while the response is in flight. Found on `res.locals.body`.
 *
 * @example
 * app.post('/hook', rereadableBody(), (req, res) => {
 *   const body = res.locals.body!;
 *   const event = body.json();      // parsed once, cached
 *   const raw = body.buffer();      // the exact bytes (zero-copy view)
 *   body.stream().pipe(archive);    // a fresh Readable each call
 *   res.end();
 * });
 */
export class RereadableBody {
  /** Decoded length in bytes. */
  readonly length: number;
  private _lease: Lease | null;
  private _owned: Buffer | null = null;
  private _refs = 1;
  private _contentType: string | undefined;
  private _parsed = false;
  private _json: unknown;
  private _text: string | undefined;
  /** `stream()` streams not yet ended or destroyed. */
  private _streams: Set<Readable> | undefined;

  /** Made by `rereadableBody()` for each request; user code reads `res.locals.body` instead of constructing one. */
  constructor(lease: Lease, length: number, contentType: string | undefined) {
    this._lease = lease;
    this.length = length;
    this._contentType = contentType;
  }

  /** Whether the pooled memory went back to the pool (views throw `body.released`). */
  get released(): boolean {
    return this._owned === null && (this._lease === null || this._lease.released);
  }

  /**
   * The exact bytes as a zero-copy view of pooled memory. Valid while the
   * response is in flight; afterwards it is empty, and calling `buffer()`
   * throws `body.released`. Use {@link copy} or {@link detach} to keep it.
   */
  buffer(): Buffer {
    const view = this.peek();
    if (this._lease !== null) this._lease.exposed = true;
    return view;
  }

  /**
   * The body decoded with the Content-Type charset (default utf-8), cached
   * until release; 415 `charset.unsupported` when unknown.
   */
  text(): string {
    if (this._text !== undefined) return this._text;
    const charset = charsetOf(this._contentType) ?? 'utf-8';
    if (charset === 'utf-8' || charset === 'utf8') {
      const utf8 = this.peek().toString('utf8');
      const text = utf8.charCodeAt(0) === 0xfeff ? utf8.slice(1) : utf8;
      this._text = text;
      return text;
    }
    let decoder: TextDecoder;
    try {
      decoder = new TextDecoder(charset);
    } catch {
      throw charsetUnsupported(charset);
    }
    const text = decoder.decode(this.peek());
    this._text = text;
    return text;
  }

  /**
   * The body parsed as JSON, once (cached until release). A charset other than `utf-*` is a
   * 415 `charset.unsupported`; bad JSON a 400 `entity.parse.failed`, as body-parser.
   */
  json<T = unknown>(): T {
    if (this._parsed) return this._json as T;
    const charset = charsetOf(this._contentType) ?? 'utf-8';
    if (!charset.startsWith('utf-')) throw charsetUnsupported(charset);
    const text = this.text();
    try {
      this._json = text.length === 0 ? undefined : JSON.parse(text);
    } catch (err) {
      throw parseFailed(err);
    }
    this._parsed = true;
    return this._json as T;
  }

  /**
   * A fresh byte-mode Readable over the body each call; it holds the pooled
   * memory until it ends or is destroyed. Chunks are copies the reader owns.
   */
  stream(): Readable {
    this.retain();
    const stream = createReplayStream(this);
    this._streams ??= new Set();
    this._streams.add(stream);
    return stream;
  }

  /** @internal A `stream()` stream let go of the body. */
  dropStream(stream: Readable): void {
    this._streams?.delete(stream);
  }

  /**
   * @internal Called when the response is done: `stream()` streams still
   * holding pooled memory `ms` later are destroyed (with a 500
   * `body.stream.timeout` when someone listens for `'error'`), so their
   * hold on the lease ends.
   */
  expireStreams(ms: number): void {
    if (ms <= 0 || this._lease === null || this._streams === undefined || this._streams.size === 0)
      return;
    const streams = this._streams;
    setTimeout(function expire(): void {
      for (const stream of [...streams]) {
        if (stream.listenerCount('error') > 0) stream.destroy(streamTimedOut(ms));
        else stream.destroy();
      }
    }, ms).unref();
  }

  /** A copy of the bytes in memory the caller owns. */
  copy(): Buffer {
    return Buffer.from(this.peek());
  }

  /**
   * Takes the bytes out of the pool without copying: the returned Buffer is
   * the caller's, and the body keeps working over it after the response ends.
   * Earlier `buffer()` views become empty.
   */
  detach(): Buffer {
    if (this._owned !== null) return this._owned;
    const lease = this._lease;
    if (lease === null || lease.released) throw releasedError();
    this._owned = lease.detach(this.length);
    this._lease = null;
    return this._owned;
  }

  /** @internal A holder (stream, replay) starts reading. */
  retain(): void {
    if (this.released) throw releasedError();
    this._refs++;
  }

  /** @internal A holder let go; the last one returns the memory. */
  release(): void {
    if (this._refs === 0) return;
    this._refs--;
    if (this._refs > 0) return;
    const lease = this._lease;
    this._lease = null;
    if (lease !== null) {
      // A keep-alive socket may keep its last request (and res.locals) alive:
      // drop the derived copies with the bytes.
      this._text = undefined;
      this._json = undefined;
      this._parsed = false;
    }
    lease?.release();
  }

  /** @internal The bytes in `[start, end)` as a copy, or throws `body.released`. */
  slice(start: number, end: number): Buffer {
    return Buffer.from(this.peek().subarray(start, end));
  }

  /** The bytes for this package's own reading: like {@link buffer}, but never handed out. */
  private peek(): Buffer {
    if (this._owned !== null) return this._owned;
    if (this._lease === null) throw releasedError();
    return this._lease.peek(this.length);
  }
}

/** A byte-mode Readable over `body` that owns one hold on it. */
function createReplayStream(body: RereadableBody): Readable {
  let offset = 0;
  let holding = true;
  function letGo(): void {
    if (!holding) return;
    holding = false;
    body.dropStream(stream);
    body.release();
  }
  const stream = new Readable({
    read(this: Readable): void {
      if (offset >= body.length) {
        this.push(null);
        return;
      }
      let chunk: Buffer;
      try {
        chunk = body.slice(offset, Math.min(body.length, offset + CHUNK));
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      offset += chunk.length;
      this.push(chunk);
    },
    destroy(err: Error | null, cb: (err: Error | null) => void): void {
      letGo();
      cb(err);
    },
  });
  stream.once('end', letGo);
  return stream;
}
