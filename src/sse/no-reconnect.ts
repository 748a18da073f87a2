import type { ServerResponse } from 'node:http';
import { serializeEvent } from './framing.js';

/**
 * The last event id `close({ reconnect: false })` leaves on a client. A
 * browser (or any `EventSource`) reconnects with it as `Last-Event-ID`, and
 * `sse()` answers that connection `204 No Content` before the route runs,
 * which the WHATWG spec defines as "stop reconnecting": the client's
 * `readyState` becomes `CLOSED` and it fires one `error` event. Stateless,
 * so it works across processes and restarts.
 *
 * @example
 * // A client that is not an EventSource (fetch + eventsource-parser) can stop on it too:
 * parser = createParser({ onEvent: (e) => { if (e.id === NO_RECONNECT_ID) stop(); } });
 */
export const NO_RECONNECT_ID = 'streamguard:no-reconnect';

/**
 * The last frame of `close({ reconnect: false })`: a `close` event (data
 * `no-reconnect`) whose id is {@link NO_RECONNECT_ID}. It carries data on
 * purpose: an `id:` line alone sets the last event id in browsers, but
 * clients built on eventsource-parser (the `eventsource` package) ignore an
 * id without data. A client may listen for `close` to stop at once, without
 * the one reconnect.
 */
export const NO_RECONNECT_FRAME = serializeEvent({
  event: 'close',
  id: NO_RECONNECT_ID,
  data: 'no-reconnect',
});

/** Answers a reconnect that carries {@link NO_RECONNECT_ID}: `204 No Content`, no body, nothing opened. */
export function refuseReconnect(res: ServerResponse): void {
  res.statusCode = 204;
  res.setHeader('Cache-Control', 'no-store');
  res.removeHeader('Content-Length');
  res.end();
}
