import { connect } from 'node:net';
import { responseTee } from '../../src/tee';
import { mount } from '../helpers/harness';
import { recorder } from './helpers';

/** Sends the headers and part of a POST body, then leaves. */
function leaveMidBody(url: string): Promise<void> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n${'a'.repeat(1000)}`,
      );
      setTimeout(() => {
        socket.destroy();
        resolve();
      }, 50);
    });
    socket.on('error', reject);
  });
}

describe.each(['express4', 'express5', 'http'] as const)('outcome on %s', (flavour) => {
  test('a response ended after its connection died is aborted, not completed', async () => {
    const { onFinish, next } = recorder();
    const app = await mount(flavour, {
      use: [responseTee({ onFinish })],
      handler: (req, res) => {
        req.on('close', () => {
          res.statusCode = 499;
          res.end('client closed request');
        });
        req.resume();
      },
    });
    await leaveMidBody(app.url);
    const record = await next();
    expect(record.outcome).toBe('aborted');
  });

  test('a response that finished before the client left is completed', async () => {
    const { onFinish, next } = recorder();
    const app = await mount(flavour, {
      use: [responseTee({ onFinish })],
      handler: (_req, res) => {
        res.statusCode = 202;
        res.end('early answer');
      },
    });
    await leaveMidBody(app.url);
    const record = await next();
    expect(record.status).toBe(202);
    expect(record.outcome).toBe('completed');
  });
});
