import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Node's list of a server's connections (`http.server.connections`, a private symbol since
 * Node 18.2, the list `closeIdleConnections()` itself walks). Each entry has the parser's
 * `socket`; the socket's `_httpMessage` is the response it is serving. Both are private:
 * `__tests__/shutdown/keep-alive.test.ts` checks them on every Node the suite runs on, and
 * without them only requests that arrive after shutdown began are marked.
 */
const CONNECTIONS = 'http.server.connections';

interface ConnectionsList {
  all(): readonly { socket?: Socket & { _httpMessage?: ServerResponse | null } }[];
}

/**
 * Once shutdown begins, every response not yet started on `server` (one in flight whose
 * headers are not out, and one for a request arriving later on a kept-alive connection) goes
 * out with `Connection: close`, so the client does not send another request on a connection
 * about to be closed (as http-terminator does). Returns the function that stops marking.
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

function responsesInFlight(server: Server): ServerResponse[] {
  const symbol = Object.getOwnPropertySymbols(server).find((s) => s.description === CONNECTIONS);
  const list =
    symbol === undefined ? undefined : (server as unknown as Record<symbol, unknown>)[symbol];
  if (!isConnectionsList(list)) return [];
  const responses: ServerResponse[] = [];
  for (const connection of list.all()) {
    const response = connection.socket?._httpMessage;
    if (response != null) responses.push(response);
  }
  return responses;
}

function isConnectionsList(value: unknown): value is ConnectionsList {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as ConnectionsList).all === 'function'
  );
}

/** Whether Node exposes the connections list `closeKeepAlive` reads (for its contract test). @internal */
export function canSeeConnections(server: Server): boolean {
  const symbol = Object.getOwnPropertySymbols(server).find((s) => s.description === CONNECTIONS);
  return (
    symbol !== undefined &&
    isConnectionsList((server as unknown as Record<symbol, unknown>)[symbol])
  );
}
