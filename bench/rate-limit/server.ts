/**
 * One benchmark server, in its own process: bare Express or Express with one
 * rate limiter (VARIANT), limits high enough that nothing is rejected, so the
 * figures measure the limiter's overhead. Prints its port on stdout.
 */

import express, { type RequestHandler } from 'express';
import { rateLimit as erl } from 'express-rate-limit';
import IORedis from 'ioredis';
import { RedisStore as ErlRedisStore, type RedisReply } from 'rate-limit-redis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import { built } from '../built';

const { MemoryStore, RedisStore, rateLimit } =
  built<typeof import('../../src/rate-limit')>('rate-limit');

const variant = process.env.VARIANT ?? 'bare';
const redisPort = Number(process.env.REDIS_PORT ?? 6379);
const HUGE = 1_000_000_000;

function redisClient(): IORedis {
  return new IORedis(redisPort, '127.0.0.1');
}

function flexible(limiter: RateLimiterMemory | RateLimiterRedis): RequestHandler {
  return function flexibleMiddleware(req, res, next) {
    limiter.consume(req.ip ?? 'unknown').then(
      function admitted() {
        next();
      },
      function rejected() {
        res.status(429).end();
      },
    );
  };
}

function limiterFor(name: string): RequestHandler | undefined {
  switch (name) {
    case 'bare':
    case 'bare-again':
      return undefined;
    // The floor: what any one extra middleware layer costs Express.
    case 'noop':
      return function noop(_req, _res, next) {
        next();
      };
    case 'streamguard-memory':
      return rateLimit({ rate: HUGE, interval: '1s', burst: HUGE, store: new MemoryStore() });
    case 'streamguard-redis':
      return rateLimit({
        rate: HUGE,
        interval: '1s',
        burst: HUGE,
        store: new RedisStore({ client: redisClient() }),
      });
    // Attack mode (bench/rate-limit/attack.ts): one request in a fresh
    // bucket, the next blocked for an hour; keys from X-Client.
    case 'streamguard-redis-attack':
    case 'streamguard-redis-attack-off':
      return rateLimit({
        rate: 1,
        interval: '1h',
        burst: 1,
        penalty: {
          after: 1,
          duration: '1h',
          remember: name === 'streamguard-redis-attack' ? 10_000 : 0,
        },
        key: (req) => String(req.headers['x-client']),
        handler: (_req, res) => {
          res.statusCode = 429;
          res.end();
        },
        store: new RedisStore({ client: redisClient(), prefix: `${name}:` }),
        logger: { warn: () => undefined },
      });
    case 'express-rate-limit-memory':
      return erl({ windowMs: 60_000, limit: HUGE });
    case 'express-rate-limit-redis': {
      const client = redisClient();
      return erl({
        windowMs: 60_000,
        limit: HUGE,
        store: new ErlRedisStore({
          sendCommand: (command: string, ...args: string[]) =>
            client.call(command, ...args) as Promise<RedisReply>,
        }),
      });
    }
    case 'rate-limiter-flexible-memory':
      return flexible(new RateLimiterMemory({ points: HUGE, duration: 60 }));
    case 'rate-limiter-flexible-redis':
      return flexible(
        new RateLimiterRedis({ storeClient: redisClient(), points: HUGE, duration: 60 }),
      );
    default:
      throw new Error(`unknown VARIANT ${name}`);
  }
}

const app = express();
const limiter = limiterFor(variant);
if (limiter !== undefined) app.use(limiter);
app.get('/', function hello(_req, res) {
  res.send('hello');
});
const server = app.listen(0, '127.0.0.1', function listening() {
  const address = server.address();
  process.stdout.write(`${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
// The parent asks for this process's CPU time around each load: CPU per
// request is far steadier than req/s on a shared, noisy machine.
process.on('message', function reportCpu() {
  const { user, system } = process.cpuUsage();
  process.send?.({ cpu: user + system });
});
process.on('SIGTERM', function stop() {
  process.exit(0);
});
