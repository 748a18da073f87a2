/**
 * What runs when `shutdown(server)` begins: long-lived responses (event
 * streams) register a hook on the server object they are served by, so a
 * shutdown can end them gracefully without any module keeping a list of
 * requests. The set lives on the server, under a registry symbol shared by
 * every copy of streamguard in the process.
 */
const kHooks = Symbol.for('streamguard.shutdownHooks');

type Hooked = object & { [kHooks]?: Set<() => void> };

/**
 * Registers `hook` to run when `runShutdownHooks(server)` is called; returns
 * the function that unregisters it. A missing server registers nothing.
 *
 * @example
 * const unhook = onServerShutdown(req.socket.server, () => stream.close());
 */
export function onServerShutdown(server: object | undefined, hook: () => void): () => void {
  if (server === undefined) return noop;
  const hooked = server as Hooked;
  let hooks = hooked[kHooks];
  if (hooks === undefined) {
    hooks = new Set();
    hooked[kHooks] = hooks;
  }
  const set = hooks;
  set.add(hook);
  return function unhook(): void {
    set.delete(hook);
  };
}

/**
 * Runs (and clears) every hook registered on `server`; returns how many ran.
 * A hook that throws does not stop the others.
 *
 * @example
 * runShutdownHooks(server);
 */
export function runShutdownHooks(server: object): number {
  const hooks = (server as Hooked)[kHooks];
  if (hooks === undefined) return 0;
  const all = [...hooks];
  hooks.clear();
  for (const hook of all) {
    try {
      hook();
    } catch {
      // One stream failing to close must not keep the others open.
    }
  }
  return all.length;
}

/** The server a request arrived on (Node sets `socket.server` on accepted connections). */
export function serverOf(socket: unknown): object | undefined {
  const server = (socket as { server?: unknown } | null | undefined)?.server;
  return typeof server === 'object' && server !== null ? server : undefined;
}

function noop(): void {}
