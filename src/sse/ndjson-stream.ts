import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeError, type ErrorFrame } from '../core/errors.js';
import { registerStreamFailure } from '../core/stream-failure.js';
import { serializeNdjson } from './framing.js';
import { type PipeOptions, type PipeSource, pipeSource } from './pipe.js';
import { StreamWriter, type WriterConfig } from './writer.js';

/**
 * A newline-delimited JSON stream on one response (`res.locals.ndjson`, set by
 * `ndjson()`; {@link ndjsonOf} reads it typed): one JSON document per line, with the same budget,
 * backpressure, deadline and signal as {@link SseStream}.
 *
 * @example
 * app.get('/rows', ndjson(), async (req, res) => {
 *   const stream = ndjsonOf(res);
 *   for await (const row of db.rows({ signal: stream.signal })) await stream.send(row);
 *   stream.close();
 * });
 */
export class NdjsonStream extends StreamWriter {
  constructor(req: IncomingMessage, res: ServerResponse, config: WriterConfig) {
    super(req, res, config);
    // A closure, not a private method: see SseStream's constructor.
    const self = this;
    registerStreamFailure(res, function endWithFrame(frame: ErrorFrame): void {
      self.endGracefully('error', serializeNdjson({ error: frame }));
    });
  }

  /**
   * Sends one JSON document as one line. Same contract as `SseStream.send`:
   * resolves when handed to the socket, rejects with an AbortError after
   * close, throws a `TypeError` at once for a value JSON cannot render.
   *
   * @example
   * await stream.send({ id: 1, name: 'ada' });
   */
  send(value: unknown): Promise<void> {
    return this.writeSerialized(serializeNdjson(value));
  }

  /**
   * Sends every item of `source` as one line (after `map`), with backpressure
   * to the source; see `SseStream.pipe`.
   *
   * @example
   * await stream.pipe(cursor, { map: (doc) => ({ id: doc._id, name: doc.name }) });
   */
  pipe<T>(source: PipeSource<T>, options: PipeOptions<T, unknown> = {}): Promise<boolean> {
    const map = options.map;
    const self = this;
    return pipeSource(source, this.signal, async function sendItem(item: T): Promise<void> {
      const mapped = map === undefined ? item : await map(item);
      if (mapped === undefined) return;
      await self.send(mapped);
    });
  }

  /**
   * Ends the stream with a last line `{"error": ErrorFrame}` and closes it (reason `error`).
   *
   * @example
   * stream.fail(new HttpError(502, 'upstream.failed'));
   */
  fail(err: unknown): void {
    if (this.closed) return;
    const { status, frame } = describeError(err, this.traceId);
    if (status >= 500) this.report(`ndjson stream failed (trace ${this.traceId})`, err);
    this.endGracefully('error', serializeNdjson({ error: frame }));
  }
}
