/**
 * One `'abort'` listener on a shared AbortSignal (the `shutdownSignal`
 * option), fanned out to every stream of one middleware, so a thousand open
 * streams add one listener to the signal, not a thousand (Node warns past
 * ten).
 */
export interface SignalFanout {
  /** Whether the signal was already aborted. */
  readonly aborted: boolean;
  /** Calls `onAbort` once when the signal aborts; returns its (idempotent) removal. */
  add(onAbort: () => void): () => void;
}

/**
 * The fan-out for `signal`: one listener, added once, for the middleware's life.
 *
 * @example
 * const fanout = signalFanout(controller.signal);
 * const remove = fanout.add(() => stream.close());
 */
export function signalFanout(signal: AbortSignal): SignalFanout {
  const members = new Set<() => void>();
  function onSignalAbort(): void {
    const current = [...members];
    members.clear();
    for (const member of current) member();
  }
  if (!signal.aborted) signal.addEventListener('abort', onSignalAbort, { once: true });
  return {
    get aborted(): boolean {
      return signal.aborted;
    },
    add(onAbort: () => void): () => void {
      members.add(onAbort);
      return function removeFromFanout(): void {
        members.delete(onAbort);
      };
    },
  };
}
