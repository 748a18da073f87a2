import type { IncomingMessage, ServerResponse } from 'node:http';
import bodyParser from 'body-parser';
import { rereadableBody } from '../../src/body';
import type { RequestHandler } from '../../src/core/types';
import { responseTee } from '../../src/tee';
import { mount } from '../helpers/harness';
import { fetchRaw, recorder } from './helpers';

type WithBody = IncomingMessage & { body?: unknown };

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}

describe.each(['express4', 'express5'] as const)('request capture on %s', (flavour) => {
  test('with rereadableBody() and express.json() after the tee: the bytes the client sent, once', async () => {
    const rec = recorder();
    const payload = JSON.stringify({
      user: 'ada',
      items: Array.from({ length: 200 }, (_, i) => i),
    });
    const app = await mount(flavour, {
      use: [
        responseTee({ onFinish: rec.onFinish, request: { maxBytes: '1mb' } }),
        rereadableBody() as unknown as RequestHandler,
        bodyParser.json() as unknown as RequestHandler,
      ],
      handler: async (req: IncomingMessage, res: ServerResponse) => {
        // The route reads the replay once more, by hand (on a later turn: body-parser calls
        // next() from inside its own pass's 'end').
        await new Promise(setImmediate);
        const again = await readAll(req);
        res.end(`${JSON.stringify((req as WithBody).body).length}/${again.length}`);
      },
    });
    const got = await fetchRaw(app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: payload,
    });
    expect(got.body.toString()).toBe(`${payload.length}/${payload.length}`);
    const record = await rec.next();
    expect(record.request!.bytes).toBe(payload.length);
    expect(record.request!.capturedBytes).toBe(payload.length);
    expect(record.request!.body.toString()).toBe(payload);
    expect(record.request!.truncated).toBe(false);
    expect(record.request!.complete).toBe(true);
  });

  test('rereadableBody() mounted before the tee: the replay the chain reads is tapped once', async () => {
    const rec = recorder();
    const payload = 'x'.repeat(70_000);
    const app = await mount(flavour, {
      use: [
        rereadableBody() as unknown as RequestHandler,
        responseTee({ onFinish: rec.onFinish, request: { maxBytes: '1mb' } }),
        bodyParser.text() as unknown as RequestHandler,
      ],
      handler: async (req: IncomingMessage, res: ServerResponse) => {
        await new Promise(setImmediate);
        const again = await readAll(req);
        res.end(`${again.length}`);
      },
    });
    const got = await fetchRaw(app.url, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: payload,
    });
    expect(got.body.toString()).toBe(`${payload.length}`);
    const record = await rec.next();
    expect(record.request!.bytes).toBe(payload.length);
    expect(record.request!.body.toString()).toBe(payload);
  });
});
