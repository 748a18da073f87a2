/** One server-sent event. */
export interface SseEvent {
  /**
   * The payload. A string is sent as is (split into one `data:` line per
   * line, on CR, LF and CRLF); anything else is `JSON.stringify`-ed. Omit it
   * for an event that only sets `id`/`retry` (browsers dispatch nothing then).
   */
  data?: unknown;
  /** The event type (`event:` field); no CR or LF. */
  event?: string;
  /** The event id (`id:` field); no CR, LF or NUL. An empty string resets the client's last event id. */
  id?: string | number;
  /** The client's reconnection delay in milliseconds; a non-negative integer. */
  retry?: number;
}

const LINE_BREAK = /\r\n|\r|\n/;
const HAS_LINE_BREAK = /[\r\n]/;
const HAS_LINE_BREAK_OR_NUL = /[\r\n\0]/;

/**
 * Serialises one event exactly as the WHATWG `text/event-stream` grammar
 * parses it back: fields first (`event`, `id`, `retry`), then one `data:`
 * line per line of data, then a blank line. Throws a `TypeError` for a
 * field a client would misread (CR/LF in `event` or `id`, NUL in `id`, a
 * `retry` that is not a non-negative integer, data `JSON.stringify` cannot
 * render). Channels serialise once and write the same text to many streams.
 *
 * @example
 * serializeEvent({ event: 'tick', id: '7', data: 'a\nb' });
 * // 'event: tick\nid: 7\ndata: a\ndata: b\n\n'
 */
export function serializeEvent(event: SseEvent): string {
  if (typeof event !== 'object' || event === null)
    throw new TypeError('sse event must be an object like { data, event, id, retry }');
  let out = '';
  const { data, event: type, id, retry } = event;
  if (type !== undefined) {
    if (typeof type !== 'string') throw new TypeError('sse event.event must be a string');
    if (HAS_LINE_BREAK.test(type)) throw new TypeError('sse event.event must not contain CR or LF');
    out += `event: ${type}\n`;
  }
  if (id !== undefined) {
    const text = typeof id === 'number' && Number.isFinite(id) ? String(id) : id;
    if (typeof text !== 'string')
      throw new TypeError('sse event.id must be a string or a finite number');
    if (HAS_LINE_BREAK_OR_NUL.test(text))
      throw new TypeError('sse event.id must not contain CR, LF or NUL');
    out += `id: ${text}\n`;
  }
  if (retry !== undefined) {
    if (typeof retry !== 'number' || !Number.isSafeInteger(retry) || retry < 0)
      throw new TypeError('sse event.retry must be a non-negative integer (milliseconds)');
    out += `retry: ${retry}\n`;
  }
  if (data !== undefined) out += dataLines(data);
  return `${out}\n`;
}

function dataLines(data: unknown): string {
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  if (typeof text !== 'string')
    throw new TypeError('sse event.data must be a string or a JSON-serialisable value');
  if (!HAS_LINE_BREAK.test(text)) return `data: ${text}\n`;
  let out = '';
  for (const line of text.split(LINE_BREAK)) out += `data: ${line}\n`;
  return out;
}

/**
 * Serialises a comment (ignored by clients; keeps proxies from timing out).
 * Each line of `text` becomes its own `:` line.
 *
 * @example
 * serializeComment('ping'); // ': ping\n\n'
 */
export function serializeComment(text = ''): string {
  if (typeof text !== 'string') throw new TypeError('sse comment must be a string');
  if (text === '') return ':\n\n';
  let out = '';
  for (const line of text.split(LINE_BREAK)) out += `: ${line}\n`;
  return `${out}\n`;
}

/**
 * Serialises one NDJSON line: `JSON.stringify(value)` and a LF. JSON text
 * never contains a raw line break, so one value is always one line.
 *
 * @example
 * serializeNdjson({ n: 1 }); // '{"n":1}\n'
 */
export function serializeNdjson(value: unknown): string {
  const text = JSON.stringify(value);
  if (typeof text !== 'string')
    throw new TypeError(
      'ndjson value must be JSON-serialisable (not undefined, a function or a symbol)',
    );
  return `${text}\n`;
}
