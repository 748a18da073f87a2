import { once } from 'node:events';
import { type IncomingMessage, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** An SSE client that parses events (eventsource-parser) and tracks the last event id, like a browser. */
export interface EventClient {
  status: number;
  events: EventSourceMessage[];
  lastEventId: string | undefined;
  /** Resolves when `count` events (in total) have arrived. */
  waitFor(count: number): Promise<EventSourceMessage[]>;
  ended: Promise<void>;
  close(): void;
}

export async function connectEvents(url: string, lastEventId?: string): Promise<EventClient> {
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
  const req = request(url, { headers, agent: false });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  const client: EventClient = {
    status: res.statusCode ?? 0,
    events: [],
    lastEventId,
    waitFor,
    ended: new Promise((resolve) => {
      res.on('close', () => resolve());
      res.on('error', () => resolve());
    }),
    close: () => req.destroy(),
  };
  const waiters: { count: number; resolve: (e: EventSourceMessage[]) => void }[] = [];
  const parser = createParser({
    onEvent(event) {
      client.events.push(event);
      if (event.id !== undefined) client.lastEventId = event.id;
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (client.events.length >= waiters[i]!.count)
          waiters.splice(i, 1)[0]!.resolve(client.events);
      }
    },
  });
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => parser.feed(chunk));
  function waitFor(count: number): Promise<EventSourceMessage[]> {
    if (client.events.length >= count) return Promise.resolve(client.events);
    return new Promise((resolve, reject) => {
      waiters.push({ count, resolve });
      client.ended.then(() => {
        if (client.events.length < count)
          reject(new Error(`stream ended after ${client.events.length} of ${count} events`));
      });
    });
  }
  return client;
}

/** A client that sends its request and then never reads: the server's writes back up. */
export async function stalledClient(url: string, lastEventId?: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  socket.pause();
  const resume = lastEventId === undefined ? '' : `Last-Event-ID: ${lastEventId}\r\n`;
  socket.write(`GET / HTTP/1.1\r\nHost: ${hostname}\r\nAccept: text/event-stream\r\n${resume}\r\n`);
  return socket;
}
