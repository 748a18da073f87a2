import type { IncomingMessage, ServerResponse } from 'node:http';
import { describeError, type ErrorFrame } from '../core/errors.js';
import { registerStreamFailure } from '../core/stream-failure.js';
import { type SseEvent, serializeComment, serializeEvent } from './framing.js';
import { NO_RECONNECT_FRAME } from './no-reconnect.js';
import { type PipeOptions, type PipeSource, pipeSource } from './pipe.js';
import { StreamWriter, type WriterConfig } from './writer.js';

/**
 * Options of {@link SseStream.close}.
 *
 * @example
 * stream.close({ reconnect: false });
 */
export interface SseCloseOptions {
  /**
   * `false`: tell the client not to reconnect. The stream's last frame sets
   * the client's last event id to {@link NO_RECONNECT_ID}; the client's
   * reconnect (after its `retry` delay) is answered `204 No Content` by
   * `sse()`, which makes an `EventSource` stop for good. Default `true`
   * (the client reconnects, as after any end of the response).
   */
  reconnect?: boolean;
}

/**
 * A server-sent event stream on one response (`res.locals.sse`;
 * {@link sseOf} reads it typed). Every
 * `send` is one `res.write`, gated by the byte budget and backpressure; the
 * `signal` aborts when the client goes, on `close()`, on shutdown or when a
 * write stalls past `writeTimeout`.
 *
 * @example
 * app.get('/events', sse(), async (req, res) => {
 *   const stream = sseOf(res);
 *   while (!stream.signal.aborted) {
 *     await stream.send({ event: 'tick', data: { at: Date.now() } });
 *     await setTimeout(1000, undefined, { signal: stream.signal }).catch(() => {});
 *   }
 * });
 */
export class SseStream extends StreamWriter {
  /** The client's `Last-Event-ID` header (or `lastEventId` query parameter), validated; `undefined` when absent. */
  readonly lastEventId: string | undefined;
  /** The event name that carries an ErrorFrame on `fail()` (the `errorEvent` option; default `'error'`). */
  readonly errorEvent: string;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    config: WriterConfig,
    lastEventId: string | undefined,
    errorEvent = 'error',
  ) {
    super(req, res, config);
    this.lastEventId = lastEventId;
    this.errorEvent = errorEvent;
    // A closure, not a private method: a private member of its own would make
    // `res.locals.sse as NdjsonStream` (0.1.0 code) a compile error.
    const self = this;
    registerStreamFailure(res, function endWithFrame(frame: ErrorFrame): void {
      self.endGracefully('error', serializeEvent({ event: self.errorEvent, data: frame }));
    });
  }

  /**
   * Sends one event. Resolves once it is handed to the socket (after
   * `'drain'` when the client is behind); with the `drop` policy a dropped
   * event resolves too (see `stats.dropped`). Rejects with an AbortError
   * once the stream is closed. A malformed event throws a `TypeError` at
   * once (synchronously). The returned promise never causes an
   * `unhandledRejection`, awaited or not.
   *
   * @example
   * await stream.send({ event: 'price', id: '42', data: { sym: 'ACME', px: 12.5 } });
   */
  send(event: SseEvent): Promise<void> {
    return this.writeSerialized(serializeEvent(event));
  }

  /**
   * Sends a comment line (ignored by clients), through the same gate.
   *
   * @example
   * await stream.comment('keep-alive');
   */
  comment(text = ''): Promise<void> {
    return this.writeSerialized(serializeComment(text), 0);
  }

  /**
   * Sends every item of `source` (an async iterable, a Node Readable or a
   * web ReadableStream) as an event, awaiting each send so backpressure
   * reaches the source. The source is destroyed/cancelled when the stream
   * closes. Resolves `true` when the source ended, `false` when the stream
   * closed first; rejects with the source's (or `map`'s) error.
   *
   * @example
   * await stream.pipe(lines(fs.createReadStream('app.log')), { map: (l) => ({ data: l.text }) });
   */
  pipe<T>(source: PipeSource<T>, options: PipeOptions<T, SseEvent> = {}): Promise<boolean> {
    const eventName = options.event;
    const map = options.map;
    const self = this;
    return pipeSource(source, this.signal, async function sendItem(item: T): Promise<void> {
      const mapped = map === undefined ? { data: item } : await map(item);
      if (mapped === undefined) return;
      await self.send(
        eventName !== undefined && mapped.event === undefined
          ? { ...mapped, event: eventName }
          : mapped,
      );
    });
  }

  /**
   * Ends the stream gracefully: whatever was accepted is written, then the
   * response ends; the signal aborts with reason `closed`. Idempotent. With
   * `{ reconnect: false }` the client is told to stop reconnecting (see
   * {@link SseCloseOptions}).
   *
   * @example
   * await stream.send({ event: 'done', data: result });
   * stream.close({ reconnect: false });
   */
  override close(options?: SseCloseOptions): void {
    const reconnect = options?.reconnect;
    if (reconnect !== undefined && typeof reconnect !== 'boolean')
      throw new TypeError('option reconnect must be a boolean');
    this.endGracefully('closed', reconnect === false ? NO_RECONNECT_FRAME : undefined);
  }

  /**
   * Ends the stream with an `error` event (named by the `errorEvent`
   * option) carrying an ErrorFrame
   * (`{ code, message, trace_id }`, 5xx messages hidden), then closes it
   * (reason `error`). For failures after the headers are out.
   *
   * @example
   * try { await work(stream); } catch (err) { stream.fail(err); }
   */
  fail(err: unknown): void {
    if (this.closed) return;
    const { status, frame } = describeError(err, this.traceId);
    if (status >= 500) this.report(`sse stream failed (trace ${this.traceId})`, err);
    this.endGracefully('error', serializeEvent({ event: this.errorEvent, data: frame }));
  }
}
