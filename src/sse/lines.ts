import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { integerOption, readOptions } from '../core/options.js';

/**
 * One line of a byte stream, without its line ending.
 *
 * @example
 * for await (const line of lines(log)) if (line.truncated) console.warn('long line cut');
 */
export interface Line {
  /** The line's text (cut at `maxLineBytes` on a character boundary when `truncated`). */
  text: string;
  /** Whether the line was longer than `maxLineBytes`; the rest of it was discarded. */
  truncated: boolean;
}

/** Options of {@link lines}. */
export interface LinesOptions {
  /** Longest line kept, in UTF-8 bytes; longer lines are cut and flagged. Default 65536. */
  maxLineBytes?: number;
}

const EOL = /[\r\n]/g;

/**
 * Splits a byte stream (a log file, a child process's stdout) into lines:
 * LF, CRLF and CR all end a line (also when CRLF straddles two chunks), UTF-8
 * characters split across chunks are reassembled, and a line longer than
 * `maxLineBytes` is cut there and flagged `truncated` (memory stays bounded
 * whatever the input). Stopping the iteration (`return()`, `break`, or
 * `pipe()` when its stream closes) destroys a Readable source at once, even
 * while it is idle (a `tail -f` with nothing new): an async generator's
 * `return()` would otherwise wait for the next chunk.
 *
 * @example
 * const tail = spawn('tail', ['-f', 'app.log']);
 * await stream.pipe(lines(tail.stdout), { map: (line) => ({ event: 'log', data: line.text }) });
 */
export function lines(
  source: Readable | AsyncIterable<Uint8Array | string>,
  options?: LinesOptions,
): AsyncGenerator<Line, void, undefined> {
  const o = readOptions(options, 'lines', ['maxLineBytes']);
  const maxLineBytes = integerOption(o.maxLineBytes, 'maxLineBytes', 65536, 1);
  if (typeof source !== 'object' || source === null || !(Symbol.asyncIterator in source))
    throw new TypeError('lines() source must be a Node Readable or an async iterable of bytes');
  const iterator = splitLines(source, maxLineBytes);
  const finish = iterator.return.bind(iterator);
  iterator.return = function returnLines(value) {
    destroySource(source);
    return finish(value);
  };
  return iterator;
}

/** Destroys a Readable (or anything with `destroy()`): its pending read rejects, so a queued `return()` can run. */
function destroySource(source: Readable | AsyncIterable<Uint8Array | string>): void {
  const destroy = (source as { destroy?: unknown }).destroy;
  if (typeof destroy === 'function') (source as Readable).destroy();
}

function cutUtf8(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  let end = maxBytes;
  while (end > 0 && ((buf[end] as number) & 0xc0) === 0x80) end--;
  return buf.toString('utf8', 0, end);
}

/** The line being assembled; `out` collects complete lines of the current chunk. */
class LineSplitter {
  private parts: string[] = [];
  private bytes = 0;
  private skipping = false;
  private pendingCR = false;
  readonly out: Line[] = [];

  constructor(private readonly maxLineBytes: number) {}

  push(text: string): void {
    // An empty chunk between CR and LF must not forget the CR (it would end one more line).
    if (text === '') return;
    let start = 0;
    if (this.pendingCR && text.charCodeAt(0) === 10) start = 1;
    this.pendingCR = false;
    EOL.lastIndex = start;
    for (;;) {
      const m = EOL.exec(text);
      if (m === null) {
        this.append(text.slice(start));
        return;
      }
      const i = m.index;
      this.append(text.slice(start, i));
      this.endLine();
      if (text.charCodeAt(i) === 13) {
        if (i + 1 === text.length) {
          this.pendingCR = true;
          start = i + 1;
        } else start = text.charCodeAt(i + 1) === 10 ? i + 2 : i + 1;
      } else start = i + 1;
      EOL.lastIndex = start;
    }
  }

  finish(): void {
    if (!this.skipping && this.parts.length > 0) this.endLine();
  }

  private append(segment: string): void {
    if (this.skipping || segment === '') return;
    const bytes = Buffer.byteLength(segment);
    if (this.bytes + bytes <= this.maxLineBytes) {
      this.parts.push(segment);
      this.bytes += bytes;
      return;
    }
    this.parts.push(cutUtf8(segment, this.maxLineBytes - this.bytes));
    this.out.push({ text: this.parts.join(''), truncated: true });
    this.parts = [];
    this.bytes = 0;
    this.skipping = true;
  }

  private endLine(): void {
    if (this.skipping) this.skipping = false;
    else this.out.push({ text: this.parts.join(''), truncated: false });
    this.parts = [];
    this.bytes = 0;
  }
}

async function* splitLines(
  source: AsyncIterable<Uint8Array | string>,
  maxLineBytes: number,
): AsyncGenerator<Line, void, undefined> {
  const decoder = new StringDecoder('utf8');
  const splitter = new LineSplitter(maxLineBytes);
  for await (const chunk of source) {
    splitter.push(typeof chunk === 'string' ? chunk : decoder.write(chunk as Buffer));
    yield* splitter.out.splice(0);
  }
  const rest = decoder.end();
  if (rest !== '') splitter.push(rest);
  splitter.finish();
  yield* splitter.out.splice(0);
}
