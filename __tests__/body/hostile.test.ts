import { connect, type Socket } from 'node:net';
import { BufferPool, rereadableBody } from '../../src/body';
import { mount } from '../helpers/harness';
import { post, waitFor } from './util';

/** Raw sockets opened by a test; destroyed after it. */
const sockets = new Set<Socket>();
afterEach(() => {
  for (const s of sockets) s.destroy();
  sockets.clear();
});

/** Opens a raw socket to `url` and writes `head` (and `body`, when given). */
function rawClient(url: string, head: string, body?: Buffer | string): Promise<Socket> {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(head);
      if (body !== undefined) socket.write(body);
      resolve(socket);
    });
    sockets.add(socket);
    socket.on('error', reject);
  });
}

function headers(length: number, extra = ''): string {
  return `POST / HTTP/1.1\r\nHost: test\r\nContent-Type: text/plain\r\nContent-Length: ${length}\r\n${extra}\r\n`;
}

describe('lease growth (issue 14)', () => {
  test('connections sending only headers with a big Content-Length do not hold the in-flight budget', async () => {
    const pool = new BufferPool({ maxInFlight: '16mb', poison: true });
    const app = await mount('express5', {
      use: [rereadableBody({ pool, limit: '1mb' })],
      handler: (_req, res) => res.end('ok'),
    });
    // 16 clients announce 1 MiB each and send nothing more: once, their 16 MiB took the budget.
    for (let i = 0; i < 16; i++) await rawClient(app.url, headers(1024 * 1024));
    await waitFor(() => pool.stats().leases === 16);
    expect(pool.stats().inUse).toBeLessThanOrEqual(16 * 64 * 1024);
    const reply = await post(app.url, 'x'.repeat(300_000), { 'content-type': 'text/plain' });
    expect(reply.status).toBe(200);
    expect(app.errors).toEqual([]);
    // A body that does arrive grows its lease class by class, up to what it needs.
    expect(pool.stats().peak).toBeGreaterThanOrEqual(16 * 64 * 1024 + 512 * 1024);
    for (const s of sockets) s.destroy();
    await waitFor(() => pool.stats().inUse === 0);
    expect(pool.stats().leases).toBe(0);
  });
});
