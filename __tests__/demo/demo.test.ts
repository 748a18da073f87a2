import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

/** `npm start` really serves the demo: start it on a free port and use it. */
let child: ChildProcess | undefined;

afterEach(() => {
  // npm start runs tsx, which runs node: end the whole process group.
  if (child?.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGTERM');
});

function startDemo(): Promise<string> {
  const repo = resolve(__dirname, '../..');
  child = spawn(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['start', '--silent'], {
    cwd: repo,
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  return new Promise((resolveUrl, reject) => {
    let out = '';
    child!.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolveUrl(m[1]!);
    });
    child!.once('exit', (code) => reject(new Error(`demo exited with ${code}: ${out}`)));
  });
}

test('npm start serves the demo index and its routes', async () => {
  const base = await startDemo();
  const index = await fetch(`${base}/`);
  expect(index.status).toBe(200);
  expect(await index.text()).toContain(`curl -i ${base}/errors/teapot`);
  const teapot = await fetch(`${base}/errors/teapot`, { headers: { 'x-request-id': 'demo-test' } });
  expect(teapot.status).toBe(418);
  expect(await teapot.json()).toEqual({
    code: 'DEMO_TEAPOT',
    message: 'I refuse to brew coffee',
    trace_id: 'demo-test',
  });
  const limited = [];
  for (let i = 0; i < 4; i++) limited.push(await fetch(`${base}/rate-limit`));
  expect(limited.map((r) => r.status)).toEqual([200, 200, 200, 429]);
  expect(limited[0]!.headers.get('ratelimit')).toBe('"demo";r=2;t=5');
  const retryAfter = Number(limited[3]!.headers.get('retry-after'));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(5);
  const hello = await fetch(`${base}/tee/hello`);
  expect(await hello.json()).toEqual({ hello: 'world' });
  const audit = await fetch(`${base}/tee/audit`);
  expect(Number(audit.headers.get('x-audit-lines'))).toBeGreaterThanOrEqual(1);
  const lastLine = (await audit.text()).trim().split('\n').pop()!;
  expect(JSON.parse(lastLine)).toMatchObject({
    url: '/tee/hello',
    status: 200,
    outcome: 'completed',
  });
  const missing = await fetch(`${base}/nope`);
  expect(missing.status).toBe(404);
  const rows = await fetch(`${base}/ndjson/rows`);
  expect(rows.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
  expect(
    (await rows.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).id),
  ).toEqual([1, 2, 3, 4, 5]);
  const echo = await fetch(`${base}/body/echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"hello":"world"}',
  });
  expect(await echo.json()).toEqual({
    parsedByExpressJson: { hello: 'world' },
    parsedByUs: { hello: 'world' },
    bytes: 17,
  });
}, 60_000);
