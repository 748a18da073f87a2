import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import Redis from 'ioredis';
import { createChannel, RedisStreamLog } from '../../src/sse';
import { type RedisServer, startRedis } from '../helpers/redis';
import { connectEvents } from './channel-client';

/**
 * Two real server processes share one channel through a real redis-server.
 * A third process (this one) and process A publish 10,000 events while ten
 * clients keep disconnecting and reconnecting, alternating between the two
 * processes with Last-Event-ID. Every client must end with the whole
 * sequence: no gap, no duplicate, in order.
 */
const TOTAL = 10_000;
const CLIENTS = 10;
let redis: RedisServer;
const children: ChildProcess[] = [];

function startServer(): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(__dirname, 'fixtures/channel-server.ts')],
    {
      env: { ...process.env, REDIS_PORT: String(redis.port), STREAM_KEY: 'events' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /PORT (\d+)/.exec(out);
      if (m) resolve({ url: `http://127.0.0.1:${m[1]}`, child });
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${out}`)));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

beforeAll(async () => {
  redis = await startRedis();
}, 30_000);

afterAll(async () => {
  await Promise.all(children.map(stopChild));
  await redis.stop();
});

test('10,000 events, two processes, clients hopping between them: every client gets all, once, in order', async () => {
  const [a, b] = await Promise.all([startServer(), startServer()]);
  const publisherClient = new Redis(redis.port, '127.0.0.1');
  const publisher = createChannel({
    replay: new RedisStreamLog({ client: publisherClient, key: 'events', maxLength: 20_000 }),
  });

  async function follow(index: number): Promise<string[]> {
    const got: string[] = [];
    let cursor = '0-0';
    for (let hop = index; got.length < TOTAL; hop++) {
      const client = await connectEvents(`${hop % 2 ? a.url : b.url}/events`, cursor);
      const want = Math.min(TOTAL, got.length + 300 + ((hop * 7919 + index * 104729) % 1200));
      await client.waitFor(want - got.length).catch(() => undefined);
      client.close();
      await client.ended;
      for (const e of client.events) got.push(e.data);
      cursor = client.lastEventId ?? cursor;
    }
    return got;
  }
  const followers = Array.from({ length: CLIENTS }, (_, i) => follow(i));

  for (let n = 1; n <= TOTAL; n++) {
    if (n % 10 === 0) {
      const res = await fetch(`${a.url}/publish/${n}`, { method: 'POST' });
      expect(res.status).toBe(200);
    } else {
      await publisher.publish({ event: 'n', data: String(n) });
    }
    if (n % 100 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  const results = await Promise.all(followers);
  const expected = Array.from({ length: TOTAL }, (_, i) => String(i + 1));
  for (const got of results) expect(got).toEqual(expected);
  await publisher.close();
  await publisherClient.quit();
}, 120_000);
