import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { responsesInFlight } from '../core/internals.js';

/**
 * Re-exported for the shutdown contract test: whether Node exposes the connections list
 * (see `src/core/internals.ts`). @internal
 */
export { canSeeConnections } from '../core/internals.js';

/**
 * Once shutdown begins, every response not yet started on `server` (one in flight whose
 * headers are not out, and one for a request arriving later on a kept-alive connection) goes
 * out with `Connection: close`, so the client does not send another request on a connection
 * about to be closed (as http-terminator does). Responses in flight come from Node's private
 * connections list (`responsesInFlight` in `src/core/internals.ts`); without it only later
 * requests are marked. Returns the function that stops marking.
 *
 * @example
 * const stop = closeKeepAlive(server);
 * // ... after the connections have drained:
 * stop();
 */
export function closeKeepAlive(server: Server): () => void {
  for (const response of responsesInFlight(server)) markClose(response);
  server.prependListener('request', markRequest);
  return function stopMarking(): void {
    server.removeListener('request', markRequest);
  };
}

function markRequest(_req: IncomingMessage, res: ServerResponse): void {
  markClose(res);
}

function markClose(res: ServerResponse): void {
  if (res.headersSent || res.writableEnded) return;
  res.shouldKeepAlive = false;
  res.setHeader('Connection', 'close');
}
