import { connect, type Socket } from 'node:net';

/**
 * Raw-socket clients for hostile-client tests (stalled, truncated, endless, aborted bodies).
 * Every socket opened here is tracked and destroyed after each test (jest setup).
 */
const open = new Set<Socket>();

/**
 * Opens a raw socket to the loopback port of `url` (tracked; destroyed after the test).
 *
 * @example
 * const socket = rawSocket(app.url);
 * socket.once('connect', () => socket.write(head));
 */
export function rawSocket(url: string): Socket {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  open.add(socket);
  socket.once('close', function forget(): void {
    open.delete(socket);
  });
  return socket;
}

/**
 * Opens a raw socket to `url`, writes `head` (and `body`, when given) once connected, and
 * resolves with the socket.
 *
 * @example
 * const socket = await rawClient(app.url, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n');
 */
export function rawClient(url: string, head: string, body?: Buffer | string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = rawSocket(url);
    socket.once('connect', function sendHead(): void {
      socket.write(head);
      if (body !== undefined) socket.write(body);
      resolve(socket);
    });
    socket.on('error', reject);
  });
}

/** The raw sockets still open, oldest first. */
export function rawSockets(): Socket[] {
  return [...open];
}

/** Destroys every raw socket still open (run after each test by the jest setup). */
export function destroyRawSockets(): void {
  for (const socket of open) socket.destroy();
  open.clear();
}

/**
 * Everything the server sends on `socket` (latin1) until the connection closes; a reset
 * by the server (it may reset what it never read) is not an error.
 *
 * @example
 * const text = await readAll(socket);
 */
export function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    socket.on('data', (c: Buffer) => {
      text += c.toString('latin1');
    });
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(text));
  });
}

/**
 * One chunk of a chunked body (`size\r\ndata\r\n`).
 *
 * @example
 * socket.write(chunk(Buffer.from('hello')));
 */
export function chunk(data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);
}
