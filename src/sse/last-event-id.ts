import type { IncomingMessage } from 'node:http';
import { HttpError } from '../core/errors.js';
import { firstHeaderValue } from '../core/headers.js';

const FORBIDDEN = /[\r\n\0]/;

/**
 * The client's last event id: the `Last-Event-ID` header (browsers send it
 * when reconnecting), else a `lastEventId` query parameter (for the first
 * connection, where no header can be set). `undefined` when absent; an
 * `HttpError` 400 (`sse.last.event.id.invalid`) when it holds CR, LF or NUL
 * or is longer than `maxLength`.
 */
export function readLastEventId(
  req: IncomingMessage,
  maxLength: number,
): string | undefined | HttpError {
  let value = firstHeaderValue(req.headers['last-event-id']);
  if (value === undefined) {
    const url = req.url ?? '';
    const q = url.indexOf('?');
    if (q !== -1) value = new URLSearchParams(url.slice(q + 1)).get('lastEventId') ?? undefined;
  }
  if (value === undefined) return undefined;
  if (value.length > maxLength)
    return new HttpError(400, 'sse.last.event.id.invalid', 'Last-Event-ID is too long', {
      limit: maxLength,
      received: value.length,
    });
  if (FORBIDDEN.test(value))
    return new HttpError(
      400,
      'sse.last.event.id.invalid',
      'Last-Event-ID must not contain CR, LF or NUL',
    );
  return value;
}
