import {
  createServer,
  request as httpRequest,
  IncomingMessage,
  type Server,
  ServerResponse,
} from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { PassThrough, Readable, Writable } from 'node:stream';
import express5 from 'express';
import express4 from 'express4';
import {
  canSeeConnections,
  dropRequestBody,
  flushedHeaderBlock,
  isClosePending,
  isExpressIpGetter,
  isParsedByBodyParser,
  keepReadableAlive,
  markNotReading,
  pipeCount,
  rawBodyOf,
  renewReadableState,
  responseHasBody,
  responsesInFlight,
  shareShape,
} from '../../src/core/internals';

/**
 * Contract tests: each private internal of Node or Express that src/core/internals.ts reads,
 * checked on the Node running the suite (CI runs it on Node 20, 22 and 24). A Node release
 * that renames or drops one fails here, naming it, before a middleware misbehaves.
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function listen(handler: Handler): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((r) => server.close(() => r()));
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 2));
}

/** Sends one request and resolves with the response's status and body text. */
function send(port: number, method: string, path = '/'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('_readableState', () => {
  test('autoDestroy: keepReadableAlive stops a readable being destroyed at its end', async () => {
    const kept = Readable.from(['a']);
    keepReadableAlive(kept);
    const stock = Readable.from(['a']);
    kept.resume();
    stock.resume();
    await Promise.all([
      new Promise((r) => kept.once('end', r)),
      new Promise((r) => stock.once('close', r)),
    ]);
    await new Promise((r) => setImmediate(r));
    expect(stock.destroyed).toBe(true);
    expect(kept.destroyed).toBe(false);
  });

  test('closeEmitted: isClosePending is true between destroy() and its close event', async () => {
    const stream = new PassThrough();
    expect(isClosePending(stream)).toBe(false);
    stream.destroy();
    expect(isClosePending(stream)).toBe(true);
    await new Promise((r) => stream.once('close', r));
    expect(isClosePending(stream)).toBe(false);
  });

  test('pipes: pipeCount counts the destinations', () => {
    const source = new PassThrough();
    expect(pipeCount(source)).toBe(0);
    const a = new PassThrough();
    const b = new PassThrough();
    source.pipe(a);
    source.pipe(b);
    expect(pipeCount(source)).toBe(2);
    source.unpipe(a);
    expect(pipeCount(source)).toBe(1);
    source.destroy();
    a.destroy();
    b.destroy();
  });

  test('constructor: renewReadableState makes an ended stream readable from the start again', async () => {
    let pass = 0;
    const stream = new Readable({
      highWaterMark: 7,
      read() {
        this.push(`pass${pass}`);
        this.push(null);
      },
    });
    keepReadableAlive(stream);
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    stream.pipe(sink);
    const first: string[] = [];
    stream.on('data', (c: Buffer) => first.push(c.toString()));
    let oldPipes: Writable[] = [];
    // As the replay does: first among the 'end' listeners, while the pipe is still there.
    const renewed = new Promise<void>((resolve) =>
      stream.prependOnceListener('end', () => {
        expect(stream.readableEnded).toBe(true);
        pass = 1;
        oldPipes = renewReadableState(stream);
        resolve();
      }),
    );
    await renewed;
    expect(first).toEqual(['pass0']);
    expect(oldPipes).toEqual([sink]);
    for (const dest of oldPipes) dest.emit('unpipe', stream, { hasUnpiped: false });
    expect(stream.readableEnded).toBe(false);
    expect(stream.readableHighWaterMark).toBe(7);
    expect(pipeCount(stream)).toBe(0);
    stream.removeAllListeners('data');
    const second: string[] = [];
    for await (const c of stream) second.push((c as Buffer).toString());
    expect(second).toEqual(['pass1']);
  });

  test('reading: markNotReading lets read() call _read() again without a push', async () => {
    let calls = 0;
    const stream = new Readable({
      read() {
        calls++;
        if (calls === 1) {
          // No push: Node keeps `reading` set and would not call _read() again.
          markNotReading(this);
          return;
        }
        this.push('x');
        this.push(null);
      },
    });
    stream.read();
    expect(calls).toBe(1);
    stream.read();
    expect(calls).toBe(2);
    stream.destroy();
  });
});

describe('IncomingMessage', () => {
  test('_dumped: after dropRequestBody the parser pushes no more body bytes', async () => {
    let seen = '';
    let request: IncomingMessage | undefined;
    let dropped: boolean | undefined;
    let again: boolean | undefined;
    const { server, port } = await listen((req, res) => {
      request = req;
      dropped = dropRequestBody(req);
      again = dropRequestBody(req);
      req.on('data', (c: Buffer) => {
        seen += c.toString();
      });
      req.on('end', () => res.end('ok'));
    });
    const socket = connect(port, '127.0.0.1');
    try {
      socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n');
      await until(() => request !== undefined);
      socket.write('0123456789');
      await until(() => request!.complete);
      await new Promise((r) => setImmediate(r));
      expect(dropped).toBe(true);
      expect(again).toBe(false);
      expect(seen).toBe('');
    } finally {
      socket.destroy();
      await close(server);
    }
  });

  async function postJson(app: (req: IncomingMessage, res: ServerResponse) => void): Promise<void> {
    const server = createServer(app);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { port } = server.address() as AddressInfo;
      await new Promise<void>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            headers: { 'content-type': 'application/json' },
          },
          (res) => res.resume().on('end', resolve),
        );
        req.on('error', reject);
        req.end('{"a":1}');
      });
    } finally {
      await close(server);
    }
  }

  test('_body: body-parser 1 (express4.json) sets it; body-parser 2 ends the request instead', async () => {
    const seen: Record<string, boolean[]> = {};
    for (const [name, make] of [
      ['express4', express4],
      ['express5', express5],
    ] as const) {
      const app = make();
      const flags: boolean[] = [];
      seen[name] = flags;
      app.use((req: IncomingMessage, _res: ServerResponse, next: () => void) => {
        flags.push(isParsedByBodyParser(req));
        next();
      });
      app.use(make.json());
      app.use((req: IncomingMessage, res: ServerResponse) => {
        flags.push(isParsedByBodyParser(req), req.readableEnded);
        res.end();
      });
      await postJson(app);
    }
    expect(seen).toEqual({ express4: [false, true, true], express5: [false, false, true] });
  });

  test('rawBody: a Buffer kept by a verify hook (what NestJS rawBody: true does)', async () => {
    const app = express5();
    app.use(
      express5.json({
        verify: (req, _res, buf) => {
          (req as IncomingMessage & { rawBody?: Buffer }).rawBody = buf;
        },
      }),
    );
    let raw: Buffer | undefined;
    let none: Buffer | undefined = Buffer.alloc(1);
    app.use((req, res) => {
      raw = rawBodyOf(req);
      (req as IncomingMessage & { rawBody?: unknown }).rawBody = 'not a buffer';
      none = rawBodyOf(req);
      res.end();
    });
    await postJson(app);
    expect(raw?.toString()).toBe('{"a":1}');
    expect(none).toBeUndefined();
  });
});

describe('ServerResponse', () => {
  test('_header: the flushed block has headers given to writeHead, which getHeader() misses', async () => {
    let before: string | undefined = 'unset';
    let block: string | undefined;
    let stored: unknown;
    const { server, port } = await listen((_req, res) => {
      before = flushedHeaderBlock(res);
      res.writeHead(201, { 'X-Given': 'to-writeHead' });
      stored = res.getHeader('x-given');
      block = flushedHeaderBlock(res);
      res.end();
    });
    try {
      expect((await send(port, 'GET')).status).toBe(201);
      expect(before).toBeUndefined();
      expect(stored).toBeUndefined();
      expect(block).toMatch(/^HTTP\/1\.1 201 Created\r\n/);
      expect(block).toMatch(/\r\nX-Given: to-writeHead\r\n/);
      expect(block!.endsWith('\r\n\r\n')).toBe(true);
    } finally {
      await close(server);
    }
  });

  test('_hasBody: false for HEAD, 204 and 304, true otherwise', async () => {
    const seen: Record<string, boolean> = {};
    const { server, port } = await listen((req, res) => {
      const status = Number(req.url!.slice(1));
      res.writeHead(status);
      seen[`${req.method} ${status}`] = responseHasBody(res);
      res.end();
    });
    try {
      await send(port, 'HEAD', '/200');
      await send(port, 'GET', '/204');
      await send(port, 'GET', '/304');
      await send(port, 'GET', '/200');
      expect(seen).toEqual({
        'HEAD 200': false,
        'GET 204': false,
        'GET 304': false,
        'GET 200': true,
      });
    } finally {
      await close(server);
    }
  });
});

describe('server connections (http.server.connections, socket._httpMessage)', () => {
  test('responsesInFlight finds the response each connection is serving', async () => {
    const held: ServerResponse[] = [];
    const { server, port } = await listen((_req, res) => {
      held.push(res);
    });
    try {
      expect(canSeeConnections(server)).toBe(true);
      const a = send(port, 'GET');
      const b = send(port, 'GET');
      await until(() => held.length === 2);
      const found = responsesInFlight(server);
      expect(found).toHaveLength(2);
      expect(new Set(found)).toEqual(new Set(held));
      for (const res of held) res.end();
      await Promise.all([a, b]);
    } finally {
      await close(server);
    }
  });
});

describe("Express's req.ip getter (proxyaddr(this, trust))", () => {
  test.each([
    ['express4', express4.request],
    ['express5', express5.request],
  ])('%s: isExpressIpGetter recognises it', (_name, request) => {
    let getter: unknown;
    for (
      let o: object | null = request;
      o !== null && getter === undefined;
      o = Object.getPrototypeOf(o)
    )
      getter = Object.getOwnPropertyDescriptor(o, 'ip')?.get;
    expect(isExpressIpGetter(getter)).toBe(true);
  });

  test('a getter of the user is not taken for it', () => {
    const own = Object.getOwnPropertyDescriptor(
      {
        get ip() {
          return '1.2.3.4';
        },
      },
      'ip',
    )?.get;
    expect(isExpressIpGetter(own)).toBe(false);
  });
});

describe('shareShape (what it relies on; its V8 behaviour is probed in shape.test.ts)', () => {
  test.each([
    ['express4', express4],
    ['express5', express5],
  ] as const)(
    '%s sets res.req and req.res as plain own properties before the prototype swap',
    async (_name, make) => {
      const app = make();
      const seen: PropertyDescriptor[] = [];
      let protos: boolean[] = [];
      app.use((req: IncomingMessage, res: ServerResponse) => {
        seen.push(
          Object.getOwnPropertyDescriptor(res, 'req')!,
          Object.getOwnPropertyDescriptor(req, 'res')!,
        );
        protos = [
          Object.getPrototypeOf(res) !== ServerResponse.prototype,
          Object.getPrototypeOf(req) !== IncomingMessage.prototype,
        ];
        res.end();
      });
      const server = createServer(app);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        await send((server.address() as AddressInfo).port, 'GET');
        for (const d of seen) {
          expect(d).toMatchObject({ configurable: true, writable: true, enumerable: true });
        }
        expect(protos).toEqual([true, true]);
      } finally {
        await close(server);
      }
    },
  );

  const newV8 = Number.parseInt(process.versions.v8, 10) >= 13;
  (newV8 ? test : test.skip)(
    'V8 >= 13: a no-op (its removal condition: engines.node >= 24)',
    () => {
      const proto = { swapped: true };
      const target = Object.setPrototypeOf({ req: 1, other: 2 }, proto) as object;
      shareShape(target, 'req');
      expect(Object.keys(target)).toEqual(['req', 'other']);
    },
  );

  (newV8 ? test.skip : test)('V8 < 13: re-adds the property at the end, keeping its value', () => {
    const proto = { swapped: true };
    const target = Object.setPrototypeOf({ req: 1, other: 2 }, proto) as object;
    shareShape(target, 'req');
    expect(Object.keys(target)).toEqual(['other', 'req']);
    expect((target as { req: number }).req).toBe(1);
  });
});
