import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ensureLocals } from '../../src/core/locals';
import { lines, type SseStream, sse } from '../../src/sse';
import { runGcFixture } from '../helpers/gc-child';
import { mount } from '../helpers/harness';
import { eventually, openStream, stalledClient } from './helpers';

function streamOf(res: ServerResponse): SseStream {
  return ensureLocals(res).sse as SseStream;
}

describe('pipe()', () => {
  test('an async generator: backpressure reaches it, and it is returned when the client goes', async () => {
    let pulled = 0;
    let finished = false;
    let result: boolean | undefined;
    let stream!: SseStream;
    async function* forever() {
      try {
        for (;;) {
          pulled++;
          yield 'p'.repeat(1000);
        }
      } finally {
        finished = true;
      }
    }
    const app = await mount('http', {
      use: [sse({ heartbeat: 0, maxBufferedBytes: '16kb', writeTimeout: 0 })],
      handler: async (_req, res) => {
        stream = streamOf(res);
        result = await stream.pipe(forever(), { event: 'p' });
      },
    });
    const socket = await stalledClient(app.url);
    socket.on('error', () => {});
    await eventually(() => stream?.stats.blocked > 0 && stream.waiting, 'the stall');
    const seen = pulled;
    await new Promise((r) => setTimeout(r, 50));
    expect(pulled).toBe(seen);
    socket.destroy();
    await eventually(() => finished && result !== undefined, 'the generator to be returned');
    expect(result).toBe(false);
  });

  test('a Node Readable is destroyed and a web ReadableStream cancelled when the client goes', async () => {
    const readable = new Readable({ objectMode: true, read() {} });
    readable.push({ n: 1 });
    let cancelled: unknown;
    const web = new ReadableStream<string>({
      start(controller) {
        controller.enqueue('w1');
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const results: boolean[] = [];
    const app = await mount('express5', {
      use: [sse({ heartbeat: 0 })],
      handler: async (req, res) => {
        const stream = streamOf(res);
        results.push(
          await (req.url === '/node'
            ? stream.pipe(readable)
            : stream.pipe(web, { map: (s) => ({ data: s.toUpperCase() }) })),
        );
      },
    });
    const a = await openStream(`${app.url}/node`);
    await a.until((t) => t === 'data: {"n":1}\n\n');
    a.close();
    await eventually(() => readable.destroyed, 'readable destroyed');
    const b = await openStream(`${app.url}/web`);
    await b.until((t) => t === 'data: W1\n\n');
    b.close();
    await eventually(() => cancelled !== undefined, 'web stream cancelled');
    expect(cancelled).toMatchObject({ name: 'AbortError', reason: 'client-closed' });
    await eventually(() => results.length === 2, 'pipes to settle');
    expect(results).toEqual([false, false]);
  });

  test('lines of a log, piped as events; a source error rejects pipe and reaches the error handler', async () => {
    const app = await mount('connect', {
      expectErrors: true,
      use: [sse({ heartbeat: 0 })],
      handler: async (_req, res) => {
        const log = Readable.from(
          (async function* () {
            yield Buffer.from('one\r\ntw');
            yield Buffer.from('o\nthree\n');
            throw new Error('disk gone');
          })(),
        );
        await streamOf(res).pipe(lines(log), { event: 'log', map: (l) => ({ data: l.text }) });
      },
    });
    const s = await openStream(app.url, { headers: { 'x-request-id': 'pipe-1' } });
    expect(await s.ended).toBe(
      'event: log\ndata: one\n\nevent: log\ndata: two\n\nevent: log\ndata: three\n\nevent: error\ndata: {"code":"INTERNAL_SERVER_ERROR","message":"Internal Server Error","trace_id":"pipe-1"}\n\n',
    );
    expect(app.errors).toHaveLength(1);
  });

  test('a bad source throws a TypeError', async () => {
    let caught: unknown;
    const app = await mount('http', {
      use: [sse({ heartbeat: 0 })],
      handler: async (_req, res) => {
        try {
          await streamOf(res).pipe(42 as never);
        } catch (err) {
          caught = err;
        }
        streamOf(res).close();
      },
    });
    await (await openStream(app.url)).ended;
    expect(caught).toBeInstanceOf(TypeError);
  });
});

describe('pipe() holds nothing per item (issue 15)', () => {
  test('100,000 items: memory after GC does not grow with the item count, one abort listener (measured in a child process)', () => {
    const report = runGcFixture<{
      ended: boolean;
      seen: number;
      growth: number;
      listeners: number;
    }>(join(__dirname, 'fixtures/pipe-memory.ts'));
    expect(report).toMatchObject({ ended: true, seen: 100_000, listeners: 1 });
    // Holding every item would be ~100 MiB more at the end than at item 1,000.
    expect(report.growth).toBeLessThan(16 * 2 ** 20);
  }, 60_000);
});

describe('pipe() after the client left (issue 15)', () => {
  test('a web ReadableStream whose items map skips while the client leaves resolves false, not true', async () => {
    let cancelled = false;
    let result: boolean | undefined;
    let client!: Awaited<ReturnType<typeof openStream>>;
    let n = 0;
    const web = new ReadableStream<number>({
      pull(controller) {
        controller.enqueue(n++);
      },
      cancel() {
        cancelled = true;
      },
    });
    const app = await mount('http', {
      use: [sse({ heartbeat: 0 })],
      handler: async (_req, res) => {
        const stream = streamOf(res);
        result = await stream.pipe(web, {
          map: async (item) => {
            if (item === 0) return { data: 'first' };
            // The client leaves while map works on an item it then skips.
            await eventually(() => client?.text() === 'data: first\n\n', 'the first event');
            client.close();
            await eventually(() => stream.signal.aborted, 'the client to leave');
            return undefined;
          },
        });
      },
    });
    client = await openStream(app.url);
    await eventually(() => result !== undefined, 'pipe() to settle');
    expect(cancelled).toBe(true);
    expect(result).toBe(false);
  });
});

describe('pipe(lines(readable)) when the stream closes (issue 15)', () => {
  test('an idle source that never pushes is destroyed at once when the client goes', async () => {
    const idle = new Readable({ read() {} });
    let result: boolean | undefined;
    let piping = false;
    const app = await mount('http', {
      use: [sse({ heartbeat: 0 })],
      handler: async (_req, res) => {
        piping = true;
        result = await streamOf(res).pipe(lines(idle), { map: (l) => ({ data: l.text }) });
      },
    });
    const client = await openStream(app.url);
    await eventually(() => piping, 'the pipe to start');
    client.close();
    await eventually(() => idle.destroyed, 'the idle source to be destroyed');
    await eventually(() => result !== undefined, 'pipe() to settle');
    expect(result).toBe(false);
  });

  test('return() on lines() of an idle Readable destroys it and settles', async () => {
    const idle = new Readable({ read() {} });
    const iterator = lines(idle);
    const pending = iterator.next();
    pending.catch(() => {});
    await expect(iterator.return(undefined)).resolves.toEqual({ done: true, value: undefined });
    expect(idle.destroyed).toBe(true);
  });
});
