/**
 * One way to send Redis commands whichever client the user brings: ioredis
 * (`call(command, ...args)`) or node-redis 4/5 (`sendCommand([command, ...args])`).
 * Stores and logs speak raw commands through it, so neither client is a dependency.
 */

/** The part of an ioredis client streamguard uses. */
export interface IoRedisLike {
  call(command: string, ...args: (string | number | Buffer)[]): Promise<unknown>;
  duplicate(override?: Record<string, unknown>): IoRedisLike;
  connect(): Promise<unknown>;
  quit(): Promise<unknown>;
  disconnect(): void;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  readonly status: string;
}

/** The part of a node-redis (v4/v5) client streamguard uses. */
export interface NodeRedisLike {
  sendCommand(args: (string | Buffer)[]): Promise<unknown>;
  duplicate(override?: Record<string, unknown>): NodeRedisLike;
  connect(): Promise<unknown>;
  readonly isOpen: boolean;
  destroy?(): void;
  disconnect?(): Promise<void>;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

/**
 * Any other client: a function sending one raw command (`['EVALSHA', sha, '1', key, …]`).
 * It has no second connection, so it serves one-shot commands (the rate limit
 * store), not blocking reads (a Redis Stream log's tail).
 *
 * @example
 * const send: SendCommand = (args) => client.sendCommand(args);
 */
export type SendCommand = (args: string[]) => Promise<unknown>;

/** An ioredis client, a node-redis client, or a {@link SendCommand} function. */
export type RedisClientLike = IoRedisLike | NodeRedisLike | SendCommand;

/**
 * A client-independent command sender.
 *
 * @example
 * const redis = redisCommander(client, 'client');
 * await redis.send(['XADD', 'events', '*', 'data', 'hi']);
 */
export interface RedisCommander {
  /** Sends one command; numbers are sent as their decimal text. */
  send(args: readonly (string | number)[]): Promise<unknown>;
  /**
   * A second connection of the same kind, for blocking reads (XREAD BLOCK).
   * It fails fast: no reconnection and no resending, so a lost connection
   * rejects the pending command at once and its owner decides what to do.
   * It always has an `'error'` listener (an unhandled `'error'` event would
   * kill the process): each connection error goes to `onError`.
   */
  duplicate(onError: (error: unknown) => void): Promise<RedisCommander>;
  /**
   * Closes a connection this module opened (a duplicate); a no-op for the
   * user's own client. `force` drops the socket at once instead of a QUIT
   * the server must answer (a stalled server never would).
   */
  close(force?: boolean): Promise<void>;
}

/**
 * Wraps an ioredis or node-redis client; throws a `TypeError` naming the
 * option when the value is neither.
 *
 * @example
 * const redis = redisCommander(new Redis(), 'client');
 */
export function redisCommander(client: unknown, option: string): RedisCommander {
  if (typeof client === 'function') return sendCommandCommander(client as SendCommand, option);
  if (isIoRedis(client)) return ioredisCommander(client, false);
  if (isNodeRedis(client)) return nodeRedisCommander(client, false);
  throw new TypeError(
    `option ${option} must be an ioredis client, a node-redis client, or a sendCommand(args) function`,
  );
}

function sendCommandCommander(send: SendCommand, option: string): RedisCommander {
  return {
    send: function sendRaw(args) {
      return send(args.map(String));
    },
    duplicate: async function cannotDuplicate() {
      throw new TypeError(
        `option ${option}: a sendCommand function cannot open the second connection blocking reads need; pass an ioredis or node-redis client`,
      );
    },
    close: async function closeNothing() {},
  };
}

function isIoRedis(client: unknown): client is IoRedisLike {
  return (
    typeof client === 'object' &&
    client !== null &&
    typeof (client as IoRedisLike).call === 'function'
  );
}

function isNodeRedis(client: unknown): client is NodeRedisLike {
  return (
    typeof client === 'object' &&
    client !== null &&
    typeof (client as NodeRedisLike).sendCommand === 'function'
  );
}

function ioredisCommander(client: IoRedisLike, owned: boolean): RedisCommander {
  return {
    send: function sendIoRedis(args) {
      const [command, ...rest] = args;
      return client.call(String(command), ...rest.map(String));
    },
    duplicate: async function duplicateIoRedis(onError) {
      // Connected before use: an ioredis client disconnected while still connecting lingers.
      const copy = client.duplicate({
        lazyConnect: true,
        retryStrategy: noRetry,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        enableOfflineQueue: false,
      });
      copy.on('error', onError);
      await copy.connect();
      return ioredisCommander(copy, true);
    },
    close: async function closeIoRedis(force) {
      // 'end': already closed; disconnect() now would arm a 2 s timer for a socket that is gone.
      if (!owned || client.status === 'end') return;
      if (force === true) {
        client.disconnect();
        return;
      }
      // QUIT, not disconnect(): ioredis keeps a disconnected socket (and the process) alive for 2 s.
      await client.quit().catch(function quitFailed() {
        client.disconnect();
      });
    },
  };
}

function nodeRedisCommander(client: NodeRedisLike, owned: boolean): RedisCommander {
  return {
    send: function sendNodeRedis(args) {
      return client.sendCommand(args.map(String));
    },
    duplicate: async function duplicateNodeRedis(onError) {
      const copy = client.duplicate({ socket: { reconnectStrategy: false } });
      // node-redis emits 'error' when the socket drops; without a listener that kills the process.
      copy.on('error', onError);
      await copy.connect();
      return nodeRedisCommander(copy, true);
    },
    close: async function closeNodeRedis() {
      if (!owned || !client.isOpen) return;
      if (typeof client.destroy === 'function') client.destroy();
      else await client.disconnect?.();
    },
  };
}

function noRetry(): null {
  return null;
}
