import { Readable } from 'node:stream';
import { responseTee, type TeeRecord } from '../../src/tee';
import type { DemoSection } from './section';

/** The last few records, newest first, so `GET /tee/records` can show them. */
const recent: object[] = [];

function summarise(record: TeeRecord): object {
  return {
    url: record.url,
    status: record.status,
    outcome: record.outcome,
    bytes: record.bytes,
    capturedBytes: record.capturedBytes,
    truncated: record.truncated,
    digest: record.digest,
    headers: record.headers,
    head: record.body.subarray(0, 120).toString('latin1'),
    request: record.request && {
      bytes: record.request.bytes,
      body: record.request.body.toString(),
    },
    timings: record.timings,
  };
}

const tee = responseTee({
  maxBytes: '4kb',
  tailBytes: 64,
  hash: 'sha256',
  request: true,
  onFinish: function remember(record) {
    recent.unshift(summarise(record));
    recent.length = Math.min(recent.length, 10);
  },
});

/** responseTee: capture exactly what was sent, bounded, and hand it over after the response. */
export const teeDemo: DemoSection = {
  title: 'responseTee: capture what was sent, bounded, without slowing it',
  tryThis: [
    "curl -s $BASE/tee/hello -H 'cookie: sid=secret'",
    'curl -s $BASE/tee/big > /dev/null   # 8 MiB streamed; 4 KiB head + 64 B tail captured, SHA-256 of all',
    "curl -s $BASE/tee/echo -d 'request bodies are tapped as they are read'",
    'curl -s $BASE/tee/records           # the last records',
  ],
  mount(app) {
    app.get('/tee/hello', tee, function hello(_req, res) {
      res.cookie('demo', 'redacted-in-the-record').json({ hello: 'world' });
    });
    app.get('/tee/big', tee, function big(_req, res) {
      let left = 8 * 1024 * 1024;
      Readable.from(
        (function* chunks() {
          while (left > 0) {
            const n = Math.min(65536, left);
            left -= n;
            yield Buffer.alloc(n, 97 + (left % 26));
          }
        })(),
      ).pipe(res);
    });
    app.post('/tee/echo', tee, function echo(req, res) {
      req.pipe(res);
    });
    app.get('/tee/records', function records(_req, res) {
      res.json(recent);
    });
  },
};
