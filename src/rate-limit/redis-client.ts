import { type RedisCommander, redisCommander } from '../core/redis.js';

/** The one operation the store needs: run a script by SHA, or by source. */
export interface ScriptRunner {
  evalSha(sha: string, key: string, args: string[]): Promise<unknown>;
  eval(script: string, key: string, args: string[]): Promise<unknown>;
  /** `PING`: the breaker's probe. */
  ping(): Promise<unknown>;
}

/**
 * Runs the store's script through whichever client was given (ioredis,
 * node-redis or a `sendCommand(args)` function, see `core/redis.ts`) as raw
 * `EVALSHA`/`EVAL` commands; throws a `TypeError` for anything else.
 *
 * @example
 * const runner = scriptRunner(new Redis());
 */
export function scriptRunner(client: unknown): ScriptRunner {
  const redis: RedisCommander = redisCommander(client, 'client');
  return {
    evalSha: function evalSha(sha, key, args) {
      return redis.send(['EVALSHA', sha, 1, key, ...args]);
    },
    eval: function evalScript(script, key, args) {
      return redis.send(['EVAL', script, 1, key, ...args]);
    },
    ping: function ping() {
      return redis.send(['PING']);
    },
  };
}
