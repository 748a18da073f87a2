import IORedis from 'ioredis';
import { createClient } from 'redis';
import type { RedisClientLike } from '../../src/core/redis';
import { type Decision, type Policy, RedisStore } from '../../src/rate-limit';
import { type RedisServer, startRedis } from '../helpers/redis';

let redis: RedisServer;
let io: IORedis;
let nodeRedis: ReturnType<typeof createClient>;

beforeAll(async () => {
  redis = await startRedis();
  io = new IORedis(redis.port, '127.0.0.1');
  nodeRedis = createClient({ url: redis.url });
  await nodeRedis.connect();
  await io.ping();
});

afterAll(async () => {
  io.disconnect();
  await nodeRedis.quit();
  await redis.stop();
});

const policy: Policy = { emission: 3_600_000, burst: 100, penalty: undefined };

/** Blocks the event loop, as a CPU-bound handler or a spike on a busy machine does. */
function busyWait(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // spin
  }
}

describe('RedisStore timeouts measure Redis, not our event loop', () => {
  it.each([
    ['ioredis', () => io as RedisClientLike],
    ['node-redis', () => nodeRedis as unknown as RedisClientLike],
  ] as const)(
    '%s: a prompt reply that arrived while the loop was blocked past the timeout is no RedisTimeoutError',
    async (name, client) => {
      const store = new RedisStore({ client: client(), prefix: `deadline-${name}:`, timeout: 50 });
      try {
        // Connected, script loaded: the next call is one prompt round trip.
        await store.consume('warm', 1, policy);
        for (let i = 0; i < 3; i++) {
          const call = store.consume('k', 1, policy);
          // The command is written; then the loop is blocked 6 timeouts long
          // (in the check phase, so the next turn runs timers before it polls
          // for I/O, as after a burst of request handlers) while Redis
          // answers in microseconds.
          await new Promise<void>((resolve) =>
            setImmediate(() => {
              busyWait(300);
              resolve();
            }),
          );
          const decision: Decision = await call;
          expect(decision).toMatchObject({ allowed: true, remaining: 99 - i });
        }
      } finally {
        store.close();
      }
    },
  );

  it('a reply that really is late (Redis stalled, SIGSTOP) still fails as a timeout', async () => {
    const store = new RedisStore({ client: io, prefix: 'deadline-late:', timeout: 50 });
    try {
      await store.consume('warm', 1, policy);
      process.kill(redis.pid ?? 0, 'SIGSTOP');
      try {
        await expect(store.consume('k', 1, policy)).rejects.toMatchObject({
          code: 'REDIS_TIMEOUT',
        });
      } finally {
        process.kill(redis.pid ?? 0, 'SIGCONT');
      }
    } finally {
      store.close();
    }
  });
});
