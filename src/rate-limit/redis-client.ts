/**
 * The slice of an ioredis 5 client the RedisStore uses:
 * `evalsha(sha, numKeys, ...keysAndArgs)` and `eval(script, numKeys, ...)`.
 *
 * @example
 * const client: IoRedisLike = new Redis(6379);
 */
export interface IoRedisLike {
  evalsha(sha: string, numKeys: number, ...args: string[]): Promise<unknown>;
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>;
}

/**
 * The slice of a node-redis 5 client the RedisStore uses:
 * `evalSha(sha, { keys, arguments })` and `eval(script, { keys, arguments })`.
 *
 * @example
 * const client: NodeRedisLike = await createClient({ url }).connect();
 */
export interface NodeRedisLike {
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>;
}

/**
 * Any other client: a function sending one raw command (`['EVALSHA', sha, '1', key, …]`).
 *
 * @example
 * const send: SendCommand = (args) => client.sendCommand(args);
 */
export type SendCommand = (args: string[]) => Promise<unknown>;

/**
 * A client the RedisStore accepts.
 *
 * @example
 * const client: RedisClientLike = createClient({ url: 'redis://localhost:6379' });
 */
export type RedisClientLike = IoRedisLike | NodeRedisLike | SendCommand;

/** The one operation the store needs: run a script by SHA, or by source. */
export interface ScriptRunner {
  evalSha(sha: string, key: string, args: string[]): Promise<unknown>;
  eval(script: string, key: string, args: string[]): Promise<unknown>;
}

/**
 * Wraps whichever client was given into a {@link ScriptRunner}; throws a
 * `TypeError` for anything else.
 *
 * @example
 * const runner = scriptRunner(new Redis());
 */
export function scriptRunner(client: unknown): ScriptRunner {
  if (typeof client === 'function') return sendCommandRunner(client as SendCommand);
  if (typeof client === 'object' && client !== null) {
    const c = client as Record<string, unknown>;
    if (typeof c.evalSha === 'function' && typeof c.eval === 'function')
      return nodeRedisRunner(client as NodeRedisLike);
    if (typeof c.evalsha === 'function' && typeof c.eval === 'function')
      return ioRedisRunner(client as IoRedisLike);
  }
  throw new TypeError(
    'option client must be an ioredis client, a node-redis client, or a sendCommand(args) function',
  );
}

function ioRedisRunner(client: IoRedisLike): ScriptRunner {
  return {
    evalSha: function ioEvalSha(sha, key, args) {
      return client.evalsha(sha, 1, key, ...args);
    },
    eval: function ioEval(script, key, args) {
      return client.eval(script, 1, key, ...args);
    },
  };
}

function nodeRedisRunner(client: NodeRedisLike): ScriptRunner {
  return {
    evalSha: function nodeEvalSha(sha, key, args) {
      return client.evalSha(sha, { keys: [key], arguments: args });
    },
    eval: function nodeEval(script, key, args) {
      return client.eval(script, { keys: [key], arguments: args });
    },
  };
}

function sendCommandRunner(send: SendCommand): ScriptRunner {
  return {
    evalSha: function sendEvalSha(sha, key, args) {
      return send(['EVALSHA', sha, '1', key, ...args]);
    },
    eval: function sendEval(script, key, args) {
      return send(['EVAL', script, '1', key, ...args]);
    },
  };
}
