import IORedis from 'ioredis';
import { createClient } from 'redis';
import { RedisStore, rateLimit } from '../../src/rate-limit';
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

function recorder() {
  const lines: string[] = [];
  return { lines, warn: (m: string) => void lines.push(m) };
}

describe('limiters sharing a Redis keyspace', () => {
  it.each([
    ['ioredis', () => io],
    ['node-redis', () => nodeRedis],
  ] as const)(
    'two RedisStores on one %s client with one prefix and one name: warned once',
    (_name, client) => {
      const first = recorder();
      rateLimit({
        store: new RedisStore({ client: client(), prefix: `p-${_name}:` }),
        logger: first,
      });
      const same = recorder();
      rateLimit({
        store: new RedisStore({ client: client(), prefix: `p-${_name}:` }),
        logger: same,
      });
      const otherPrefix = recorder();
      rateLimit({
        store: new RedisStore({ client: client(), prefix: `q-${_name}:` }),
        logger: otherPrefix,
      });
      const otherName = recorder();
      rateLimit({
        store: new RedisStore({ client: client(), prefix: `p-${_name}:` }),
        name: 'login',
        logger: otherName,
      });
      expect(first.lines).toEqual([]);
      expect(same.lines).toHaveLength(1);
      expect(same.lines[0]).toMatch(/already counts into this store under the name 'default'/);
      expect(otherPrefix.lines).toEqual([]);
      expect(otherName.lines).toEqual([]);
    },
  );
});
