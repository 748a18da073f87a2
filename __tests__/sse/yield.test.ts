import { spawn } from 'node:child_process';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { ensureLocals } from '../../src/core/locals';
import { type NdjsonStream, ndjson, type SseStream, sse } from '../../src/sse';
import { closeAllApps, mount } from '../helpers/harness';

/**
 * Issue 14: a fast client must not keep the event loop to itself. The
 * client is another process reading as fast as it can (so the socket
 * accepts every write and every send resolves at once); a 10 ms interval in
 * the server counts the turns the loop got during the export. Before the
 * fix the export ran as one long turn: ~0 ticks.
 */

const ROWS = 150_000;
const ROW = { id: 0, name: 'row', payload: 'x'.repeat(60) };

function rows(): Generator<typeof ROW> {
  return (function* generate() {
    for (let id = 0; id < ROWS; id++) yield { ...ROW, id };
  })();
}

/** Reads the whole response in a child process; resolves with the byte count. */
function fastClient(url: string): Promise<number> {
  const code = `require('http').get(process.argv[1], (res) => {
    let n = 0; res.on('data', (c) => { n += c.length; }); res.on('end', () => { process.stdout.write(String(n)); });
  });`;
  const child = spawn(process.execPath, ['-e', code, url], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c: string) => {
    out += c;
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => resolve(Number(out)));
  });
}

interface Export {
  ticks: number;
  result: unknown;
  bytes: number;
}

async function exportWhileTicking(
  use: ReturnType<typeof sse>,
  run: (res: ServerResponse) => Promise<unknown>,
): Promise<Export> {
  let ticks = 0;
  let result: unknown;
  let done!: () => void;
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const app = await mount('http', {
    use: [use],
    handler: async (_req, res) => {
      ticks = 0;
      const timer = setInterval(() => {
        ticks++;
      }, 10);
      try {
        result = await run(res);
      } finally {
        clearInterval(timer);
        done();
      }
    },
  });
  const bytes = await fastClient(app.url);
  await finished;
  return { ticks, result, bytes };
}

function sseOf(res: ServerResponse): SseStream {
  return ensureLocals(res).sse as SseStream;
}
function ndjsonOf(res: ServerResponse): NdjsonStream {
  return ensureLocals(res).sse as NdjsonStream;
}

const options = { heartbeat: 0, writeTimeout: 0 } as const;

// 150k-row exports: seconds on an idle machine, much more on a loaded one; nothing here is timed.
jest.setTimeout(180_000);

afterAll(closeAllApps);

describe('sending yields to the event loop (issue 14)', () => {
  test('ndjson pipe() of a 150k-row Readable lets a 10 ms timer run during the export', async () => {
    const { ticks, result, bytes } = await exportWhileTicking(ndjson(options), async (res) => {
      const stream = ndjsonOf(res);
      const ok = await stream.pipe(Readable.from(rows()));
      stream.close();
      return ok;
    });
    expect(result).toBe(true);
    expect(bytes).toBeGreaterThan(ROWS * 60);
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  test('sse pipe() of a 150k-item async iterable lets a 10 ms timer run during the export', async () => {
    async function* source() {
      yield* rows();
    }
    const { ticks, result } = await exportWhileTicking(sse(options), async (res) => {
      const stream = sseOf(res);
      const ok = await stream.pipe(source(), { map: (row) => ({ data: row }) });
      stream.close();
      return ok;
    });
    expect(result).toBe(true);
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  test('a loop of await stream.send() (ndjson) lets a 10 ms timer run', async () => {
    const { ticks, bytes } = await exportWhileTicking(ndjson(options), async (res) => {
      const stream = ndjsonOf(res);
      for (const row of rows()) await stream.send(row);
      stream.close();
    });
    expect(bytes).toBeGreaterThan(ROWS * 60);
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  test('a loop of await stream.send() (sse, coalesce) lets a 10 ms timer run', async () => {
    const { ticks } = await exportWhileTicking(sse({ ...options, coalesce: true }), async (res) => {
      const stream = sseOf(res);
      for (const row of rows()) await stream.send({ data: row });
      stream.close();
    });
    expect(ticks).toBeGreaterThanOrEqual(10);
  });

  test('pipe() whose map skips every item still yields', async () => {
    const { ticks, result } = await exportWhileTicking(ndjson(options), async (res) => {
      const stream = ndjsonOf(res);
      const ok = await stream.pipe(rows(), {
        map: (row) => {
          // A little work per item, so skipping 150k of them takes a while.
          JSON.stringify(row);
          return undefined;
        },
      });
      stream.close();
      return ok;
    });
    expect(result).toBe(true);
    expect(ticks).toBeGreaterThanOrEqual(3);
  });
});
