import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { type IncomingMessage, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { type SseStream, sseOf } from '../../src/sse';
import type { LoggedEvent } from '../../src/sse/replay-log';

/** A raw SSE/NDJSON client: collects the body text; resolves `until(pred)` when it matches. */
export interface RawStream {
  res: IncomingMessage;
  text(): string;
  until(pred: (text: string) => boolean): Promise<string>;
  ended: Promise<string>;
  close(): void;
}

export async function openStream(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawStream> {
  const req = request(url, { method: init.method ?? 'GET', headers: init.headers, agent: false });
  if (init.body !== undefined) req.end(init.body);
  else req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  res.setEncoding('utf8');
  let buf = '';
  const waiters: { pred: (t: string) => boolean; resolve: (t: string) => void }[] = [];
  function check(): void {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (w.pred(buf)) {
        waiters.splice(i, 1);
        w.resolve(buf);
      }
    }
  }
  res.on('data', (chunk: string) => {
    buf += chunk;
    check();
  });
  const ended = new Promise<string>((resolve) => {
    res.on('close', () => resolve(buf));
    res.on('error', () => resolve(buf));
  });
  return {
    res,
    text: () => buf,
    until(pred) {
      return new Promise((resolve, reject) => {
        if (pred(buf)) return resolve(buf);
        waiters.push({ pred, resolve });
        ended.then(() => {
          if (!pred(buf))
            reject(
              new Error(`stream ended without a match; got ${JSON.stringify(buf.slice(0, 500))}`),
            );
        });
      });
    },
    ended,
    close() {
      req.destroy();
    },
  };
}

/** A client that sends a request and then never reads: the server's writes back up. */
export async function stalledClient(url: string, path = '/'): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  socket.pause();
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
  return socket;
}

/** Resolves when `check()` is true, polling on the event loop (no fixed sleeps). */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** How many connections a server holds open. */
export function connections(server: import('node:http').Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.getConnections((err, n) => (err ? reject(err) : resolve(n)));
  });
}

/** The stream `sse()` put on the response. */
export function streamOf(res: ServerResponse): SseStream {
  return sseOf(res);
}

/** Fails the suite if any promise rejection went unhandled while it ran. */
export function failOnUnhandledRejections(): void {
  const unhandled: unknown[] = [];
  function onUnhandled(reason: unknown): void {
    unhandled.push(reason);
  }
  beforeAll(() => process.on('unhandledRejection', onUnhandled));
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });
}

/** A replay-log tail listener that resolves `wait` once `count` events arrived. */
export function nextEvents(count: number): {
  wait: Promise<LoggedEvent[]>;
  listener: (e: LoggedEvent) => void;
} {
  const got: LoggedEvent[] = [];
  let done!: (events: LoggedEvent[]) => void;
  const wait = new Promise<LoggedEvent[]>((resolve) => {
    done = resolve;
  });
  return {
    wait,
    listener: (e) => {
      got.push(e);
      if (got.length === count) done(got);
    },
  };
}
