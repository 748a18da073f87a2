import type { RedisClientLike } from '../../src/core/redis';

/** Where a test keeps what it must close after each test. */
export interface Closers {
  push(close: () => Promise<void>): unknown;
}

/** The part of a node-redis client (4, 5 or 6) the tests use. */
export interface NodeRedisClient {
  connect(): Promise<unknown>;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  destroy?(): void;
  disconnect(): Promise<unknown>;
  isOpen: boolean;
}

/** The part of an ioredis client (5 or 6) the tests use. */
export interface IoredisClient {
  on(event: 'error', listener: (error: unknown) => void): unknown;
  disconnect(): void;
  ping(): Promise<unknown>;
}

/**
 * Connects a user's node-redis client for a test: its error listener is the user's job
 * (node-redis requires one), and it is closed after the test.
 *
 * @example
 * const client = await connectNodeRedis(createClient({ url: redis.url }), closers);
 */
export async function connectNodeRedis(
  client: NodeRedisClient,
  closers: Closers,
): Promise<RedisClientLike> {
  client.on('error', () => undefined);
  await client.connect();
  closers.push(async () => {
    if (!client.isOpen) return;
    if (client.destroy) client.destroy();
    else await client.disconnect();
  });
  return client as unknown as RedisClientLike;
}

/**
 * Connects a user's ioredis client for a test (connected before it is counted), closed after it.
 *
 * @example
 * const client = await connectIoredis(new Redis(redis.port, '127.0.0.1'), closers);
 */
export async function connectIoredis(
  client: IoredisClient,
  closers: Closers,
): Promise<RedisClientLike> {
  client.on('error', () => undefined);
  closers.push(async () => client.disconnect());
  await client.ping();
  return client as unknown as RedisClientLike;
}
