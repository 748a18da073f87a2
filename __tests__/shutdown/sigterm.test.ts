import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectEvents } from '../sse/channel-client';

/**
 * SIGTERM to a real server process under load: every response a client got
 * in full has its batched audit record on disk, every event whose publish
 * was acknowledged reached the connected subscriber before the final close
 * event, and the process exits 0 (not forced).
 */
let dir: string;
let child: ChildProcess | undefined;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'streamguard-sigterm-'));
});
afterAll(() => {
  if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function call(method: string, url: string): Promise<{ status: number; body: string } | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', () => resolve(undefined));
    });
    req.on('error', () => resolve(undefined)); // refused or reset: not acknowledged
    req.end();
  });
}

test('no batched record and no acknowledged event is lost when SIGTERM arrives under load', async () => {
  const auditFile = join(dir, 'audit.ndjson');
  child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'fixtures/server.ts')], {
    env: { ...process.env, AUDIT_FILE: auditFile },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const base = await new Promise<string>((resolve, reject) => {
    child!.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
    child!.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  const exited = new Promise<number | null>((resolve) =>
    child!.once('exit', (code) => resolve(code)),
  );
  const subscriber = await connectEvents(`${base}/events`, '0');

  const completed: string[] = [];
  const acknowledged: string[] = [];
  let stop = false;
  let n = 0;
  async function worker(): Promise<void> {
    while (!stop) {
      const i = ++n;
      const isPublish = i % 4 === 0;
      const res = await call(
        isPublish ? 'POST' : 'GET',
        `${base}/${isPublish ? 'publish' : 'work'}/${i}`,
      );
      if (res === undefined) {
        stop = true; // the server stopped accepting
        return;
      }
      if (res.status !== 200) continue;
      if (isPublish) acknowledged.push(String(i));
      else completed.push(`/work/${i}`);
    }
  }
  const workers = Array.from({ length: 16 }, () => worker());
  while (completed.length < 300) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGTERM');
  await Promise.all(workers);
  expect(await exited).toBe(0);
  expect(out).toMatch(/SHUTDOWN \{"forced":false/);
  await subscriber.ended;

  const records = existsSync(auditFile) ? readFileSync(auditFile, 'utf8').trim().split('\n') : [];
  const missing = completed.filter((url) => !records.includes(url));
  expect(missing).toEqual([]);
  const delivered = subscriber.events.filter((e) => e.event === 'n').map((e) => e.data);
  expect(delivered.filter((d) => !acknowledged.includes(d))).toEqual([]);
  expect(acknowledged.filter((d) => !delivered.includes(d))).toEqual([]);
  expect(subscriber.events.at(-1)).toMatchObject({ event: 'close', data: 'reconnect' });
  expect(completed.length).toBeGreaterThanOrEqual(300);
}, 60_000);
