import { createServer, get, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deferred, handled, handledRejection } from '../../src/core/deferred';
import { firstHeaderValue, parseHeaderBlock, sentHeader } from '../../src/core/headers';
import { sse } from '../../src/sse';

describe('core/headers', () => {
  test('firstHeaderValue takes the first of a list', () => {
    expect(firstHeaderValue(['gzip', 'br'])).toBe('gzip');
    expect(firstHeaderValue('br')).toBe('br');
    expect(firstHeaderValue(undefined)).toBeUndefined();
  });

  test('parseHeaderBlock: lower-case names, repeated ones as arrays, status line skipped', () => {
    const block =
      'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-Colon: b: c\r\nset-cookie: d=2\r\nbad line\r\n\r\n';
    expect({ ...parseHeaderBlock(block) }).toEqual({
      'set-cookie': ['a=1', 'd=2'],
      'x-colon': 'b: c',
    });
  });

  test('sentHeader reads a header given to writeHead (first line of that name) from the block', async () => {
    let seen: (string | undefined)[] = [];
    const server = createServer((_req, res) => {
      res.writeHead(200, [
        ['X-Twice', 'one'],
        ['X-Twice', 'two'],
      ]);
      seen = [sentHeader(res, 'x-twice'), sentHeader(res, 'X-None')];
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      await new Promise<void>((resolve, reject) =>
        get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, (res) =>
          res.resume().on('end', resolve),
        ).on('error', reject),
      );
      expect(seen).toEqual(['one', undefined]);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('core/deferred', () => {
  test('an unawaited rejection is no unhandledRejection; awaiting still rejects', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on('unhandledRejection', onUnhandled);
    try {
      const d = deferred();
      d.reject(new Error('a'));
      const h = handled(Promise.reject(new Error('b')));
      const r = handledRejection(new Error('c'));
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
      await expect(d.promise).rejects.toThrow('a');
      await expect(h).rejects.toThrow('b');
      await expect(r).rejects.toThrow('c');
    } finally {
      process.removeListener('unhandledRejection', onUnhandled);
    }
  });
});

test('an sse stream adds each close listener to the response once (no duplicate cleanup listener)', async () => {
  let listeners: unknown[] = [];
  const middleware = sse({ heartbeat: 0 });
  const server = createServer((req, res: ServerResponse) => {
    middleware(req, res, () => {
      listeners = res.listeners('close');
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await new Promise<void>((resolve, reject) =>
      get(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, (res) =>
        res.resume().on('end', resolve),
      ).on('error', reject),
    );
    expect(listeners.length).toBeGreaterThan(0);
    expect(new Set(listeners).size).toBe(listeners.length);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
