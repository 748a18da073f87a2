import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { lines, ndjson, ndjsonOf, sse, sseOf } from '../../src';
import type { DemoSection } from './section';

const shutdown = new AbortController();

/** A fake log: a few lines a second, CRLF and LF mixed, one absurdly long line. */
function fakeLog(): Readable {
  async function* produce() {
    for (let i = 0; ; i++) {
      yield Buffer.from(i % 5 === 4 ? `${'x'.repeat(5000)}\n` : `line ${i}\r\n`);
      await sleep(250);
    }
  }
  return Readable.from(produce());
}

/** sse and ndjson: streams that stop when the client goes. */
export const sseDemo: DemoSection = {
  title: 'sse() / ndjson(): streams that stop when the client goes',
  tryThis: [
    'curl -N $BASE/sse/clock                 # an event a second; Ctrl-C aborts the signal',
    "curl -N $BASE/sse/clock -H 'Last-Event-ID: 41'   # resumes after id 41",
    'curl -N $BASE/sse/log                   # a log piped as events (long lines cut at 1 KiB)',
    'curl -N $BASE/sse/fail                  # a failure after the headers: an error event, then a clean close',
    'curl -N $BASE/ndjson/rows               # NDJSON, one document per line',
  ],
  mount(app) {
    const events = sse({
      heartbeat: '15s',
      maxBufferedBytes: '64kb',
      shutdownSignal: shutdown.signal,
    });
    app.get('/sse/clock', events, async function clock(_req, res) {
      const stream = sseOf(res);
      let id = stream.lastEventId === undefined ? 0 : Number(stream.lastEventId) + 1;
      while (!stream.signal.aborted) {
        await stream.send({
          event: 'tick',
          id: String(id++),
          data: { at: new Date().toISOString() },
        });
        await sleep(1000, undefined, { signal: stream.signal }).catch(() => undefined);
      }
    });
    app.get('/sse/log', events, async function tail(_req, res) {
      const stream = sseOf(res);
      await stream.pipe(lines(fakeLog(), { maxLineBytes: 1024 }), {
        event: 'log',
        map: (line) => ({ data: line.truncated ? `${line.text} [truncated]` : line.text }),
      });
    });
    app.get('/sse/fail', events, async function fail(_req, res) {
      await sseOf(res).send({ data: 'working…' });
      throw new Error('the upstream vanished (this message is not exposed)');
    });
    app.get(
      '/ndjson/rows',
      ndjson({ shutdownSignal: shutdown.signal }),
      async function rows(_req, res) {
        const stream = ndjsonOf(res);
        async function* table() {
          for (let id = 1; id <= 5; id++) {
            yield { id, name: `row ${id}` };
            await sleep(200);
          }
        }
        await stream.pipe(table());
        stream.close();
      },
    );
  },
  async close() {
    shutdown.abort();
  },
};
