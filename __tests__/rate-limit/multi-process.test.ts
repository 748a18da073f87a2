import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { type RedisServer, startRedis } from '../helpers/redis';

const PROCESSES = 4;
const REQUESTS = 2000;
const BURST = 137;

let redis: RedisServer;
const children: ChildProcess[] = [];

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        }),
    ),
  );
  await redis.stop();
});

function startApp(): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(__dirname, 'fixtures/redis-app.ts')],
    {
      env: { ...process.env, REDIS_PORT: String(redis.port), BURST: String(BURST) },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    child.once('exit', (code) => reject(new Error(`app exited with ${code}`)));
  });
}

function get(port: number, agent: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

it(`${PROCESSES} processes, ${REQUESTS} concurrent requests on one key: exactly burst admitted`, async () => {
  const ports = await Promise.all(Array.from({ length: PROCESSES }, startApp));
  const agent = new Agent({ keepAlive: true, maxSockets: 50 });
  try {
    const statuses = await Promise.all(
      Array.from({ length: REQUESTS }, (_, i) => get(ports[i % PROCESSES] ?? 0, agent)),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(BURST);
    expect(statuses.filter((s) => s === 429)).toHaveLength(REQUESTS - BURST);
  } finally {
    agent.destroy();
  }
}, 60_000);
