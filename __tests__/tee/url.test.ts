import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import connect from 'connect';
import express from 'express';
import express4 from 'express4';
import { responseTee } from '../../src/tee';
import { fetchRaw, recorder } from './helpers';

type App = (req: IncomingMessage, res: ServerResponse) => void;

function listen(app: App): Promise<{ server: Server; url: string }> {
  const server = createServer(app);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}` });
    });
  });
}

function mounted(
  kind: 'express4' | 'express5' | 'connect',
  tee: ReturnType<typeof responseTee>,
): App {
  function answer(_req: IncomingMessage, res: ServerResponse): void {
    res.end('ok');
  }
  if (kind === 'connect') {
    const app = connect();
    app.use('/api', tee);
    app.use('/api', answer);
    return app;
  }
  const app = kind === 'express4' ? express4() : express();
  app.use('/api', tee, answer);
  return app as unknown as App;
}

describe.each(['express4', 'express5', 'connect'] as const)('record.url on %s', (kind) => {
  test('is the URL the client asked for, mount path included, for the response and the request', async () => {
    const { onFinish, next } = recorder();
    const tee = responseTee({ onFinish, request: true });
    const { server, url } = await listen(mounted(kind, tee));
    try {
      expect((await fetchRaw(`${url}/api/hook?x=1`, { method: 'POST', body: 'hi' })).status).toBe(
        200,
      );
      const record = await next();
      expect(record.url).toBe('/api/hook?x=1');
      expect(record.request?.url).toBe('/api/hook?x=1');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
