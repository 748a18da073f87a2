import { appendFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type Batcher, createBatcher } from '../../src/batch';
import { responseTee, type TeeRecord } from '../../src/tee';
import type { DemoSection } from './section';

/** The last few records, newest first, so `GET /tee/records` can show them. */
const recent: object[] = [];

/** Every record also goes to an NDJSON audit file, written in batches (the pieces composing). */
const auditFile =
  process.env.AUDIT_FILE ?? join(tmpdir(), `streamguard-demo-audit-${process.pid}.ndjson`);
let audit: Batcher<object> | undefined;

function writeAuditLines(_key: string, rows: object[]): Promise<void> {
  return appendFile(auditFile, `${rows.map((row) => JSON.stringify(row)).join('\n')}\n`);
}

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
    const summary = summarise(record);
    recent.unshift(summary);
    recent.length = Math.min(recent.length, 10);
    void audit?.add(summary);
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
    'curl -s $BASE/tee/audit             # flush the batcher, then the NDJSON audit file it writes',
  ],
  mount(app) {
    audit = createBatcher<object>({ maxSize: 50, maxWait: '1s', handler: writeAuditLines });
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
    app.get('/tee/audit', async function auditTail(_req, res, next) {
      try {
        await audit?.flush();
        const text = await readFile(auditFile, 'utf8').catch(() => '');
        const lines = text.split('\n').filter((line) => line !== '');
        res
          .type('application/x-ndjson')
          .set('x-audit-file', auditFile)
          .set('x-audit-lines', String(lines.length));
        res.send(`${lines.slice(-20).join('\n')}\n`);
      } catch (error) {
        next(error);
      }
    });
  },
  async close() {
    await audit?.close();
  },
};
