import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { shutdown } from '../../src/shutdown';
import { canSeeConnections } from '../../src/shutdown/keep-alive';
import { FLAVOURS, mount } from '../helpers/harness';

/** A raw keep-alive client: everything the server sent, and whether the server closed. */
function rawClient(url: string): { socket: Socket; text: () => string; ended: Promise<void> } {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (c: string) => {
    received += c;
  });
  const ended = new Promise<void>((resolve) => socket.on('end', () => resolve()));
  return { socket, text: () => received, ended };
}

function request(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n`;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 5));
}

describe.each(FLAVOURS.filter((f) => f !== 'nest'))('%s', (flavour) => {
  test('a response not yet started when shutdown begins goes out with Connection: close, and the server closes after it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let arrived = 0;
    const app = await mount(flavour, {
      handler: async (_req, res) => {
        arrived++;
        await gate;
        res.end('done');
      },
    });
    const client = rawClient(app.url);
    client.socket.write(request('/slow'));
    await until(() => arrived === 1);
    const done = shutdown(app.server, { timeout: '5s' });
    release();
    await client.ended;
    expect(client.text()).toMatch(/^HTTP\/1\.1 200/);
    expect(client.text()).toMatch(/\r\nConnection: close\r\n/i);
    expect(client.text()).not.toMatch(/keep-alive/i);
    expect((await done).forced).toBe(false);
  });

  test('a request arriving on a kept-alive connection after shutdown began is answered with Connection: close', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const seen: string[] = [];
    const app = await mount(flavour, {
      handler: async (req, res) => {
        seen.push(req.url ?? '');
        if (req.url === '/stream') {
          res.write('head,');
          await gate;
        }
        res.end(`body of ${req.url}`);
      },
    });
    const client = rawClient(app.url);
    client.socket.write(request('/stream'));
    await until(() => client.text().includes('head,'));
    const done = shutdown(app.server, { timeout: '5s' });
    await new Promise((r) => setTimeout(r, 20));
    // The first response's headers are out (keep-alive); the client sends its next request.
    client.socket.write(request('/next'));
    release();
    await client.ended;
    const second = client.text().slice(client.text().lastIndexOf('HTTP/1.1 '));
    expect(seen).toEqual(['/stream', '/next']);
    expect(second).toMatch(/^HTTP\/1\.1 200/);
    expect(second).toMatch(/\r\nConnection: close\r\n/i);
    expect(second).toContain('body of /next');
    expect((await done).forced).toBe(false);
  });
});

test('contract: Node exposes the connections list shutdown reads (http.server.connections)', async () => {
  const server: Server = createServer((_req, res) => res.end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    expect(canSeeConnections(server)).toBe(true);
    expect((server.address() as AddressInfo).port).toBeGreaterThan(0);
  } finally {
    await new Promise((r) => server.close(r));
  }
});
