import { type IncomingMessage, OutgoingMessage, ServerResponse } from 'node:http';
import { writeHeadHeaders } from './headers';
import type { TeeSession } from './session';

type Method = (...args: unknown[]) => unknown;
/**
 * The response methods a tee wraps.
 *
 * @example
 * const wrappers: Patchable = createWrappers(Symbol('tee'));
 */
export type Patchable = Record<'write' | 'end' | 'writeHead' | 'flushHeaders' | 'destroy', Method>;

/**
 * The methods a tee replaced on one response, and the wrappers it put there.
 *
 * @example
 * if (session.originals) unwrapResponse(res, session.originals);
 */
export interface Originals {
  readonly write: Method;
  readonly end: Method;
  readonly writeHead: Method;
  readonly flushHeaders: Method;
  readonly destroy: Method;
  readonly wrappers: Patchable;
}

type Tagged = ServerResponse & Record<symbol, TeeSession | undefined>;

const proto = OutgoingMessage.prototype as unknown as Patchable;

/**
 * The five wrappers of one `responseTee()` factory. They are created once per
 * factory, not per response: each finds its response's session under the
 * factory's `key`, so wrapping a response allocates nothing but the session.
 *
 * @example
 * const wrappers = createWrappers(Symbol('tee'));
 */
export function createWrappers(key: symbol): Patchable {
  function sessionOf(self: unknown): TeeSession | undefined {
    return typeof self === 'object' && self !== null ? (self as Tagged)[key] : undefined;
  }
  function teeWrite(this: unknown, ...args: unknown[]): unknown {
    const session = sessionOf(this);
    if (session === undefined) return Reflect.apply(proto.write, this, args);
    const res = session.res;
    const open = !res.writableEnded && !res.destroyed;
    const result = Reflect.apply(session.originals!.write, res, args);
    if (open) session.onBody(args[0], args[1]);
    return result;
  }
  function teeEnd(this: unknown, ...args: unknown[]): unknown {
    const session = sessionOf(this);
    if (session === undefined) return Reflect.apply(proto.end, this, args);
    const res = session.res;
    const open = !res.writableEnded && !res.destroyed;
    const result = Reflect.apply(session.originals!.end, res, args);
    if (open) {
      if (typeof args[0] !== 'function') session.onBody(args[0], args[1]);
      session.onEnd();
    }
    return result;
  }
  function teeWriteHead(this: unknown, ...args: unknown[]): unknown {
    const session = sessionOf(this);
    if (session === undefined) return Reflect.apply(SERVER_WRITE_HEAD, this, args);
    const result = Reflect.apply(session.originals!.writeHead, session.res, args);
    const headersArg = typeof args[1] === 'string' ? args[2] : args[1];
    session.onHeaders(headersArg === undefined ? undefined : writeHeadHeaders(headersArg));
    return result;
  }
  function teeFlushHeaders(this: unknown, ...args: unknown[]): unknown {
    const session = sessionOf(this);
    if (session === undefined) return Reflect.apply(proto.flushHeaders, this, args);
    const result = Reflect.apply(session.originals!.flushHeaders, session.res, args);
    session.onHeaders(undefined);
    return result;
  }
  function teeDestroy(this: unknown, ...args: unknown[]): unknown {
    const session = sessionOf(this);
    if (session === undefined) return Reflect.apply(proto.destroy, this, args);
    const res = session.res;
    if (!res.destroyed && !res.writableFinished && !session.done) {
      session.destroyedByServer = true;
      session.destroyError = args[0];
    }
    return Reflect.apply(session.originals!.destroy, res, args);
  }
  return {
    write: teeWrite,
    end: teeEnd,
    writeHead: teeWriteHead,
    flushHeaders: teeFlushHeaders,
    destroy: teeDestroy,
  };
}

const SERVER_WRITE_HEAD = ServerResponse.prototype.writeHead as unknown as Method;

/**
 * Wraps `res.write`, `res.end`, `res.writeHead`, `res.flushHeaders` and
 * `res.destroy` on this instance only. Each wrapper forwards its arguments
 * untouched first (every overload, callbacks included) and returns what the
 * original returned (backpressure and `'drain'` intact); only then does it
 * count and copy. Sets `session.wire` (whether the tee sits directly on
 * Node's own write path).
 *
 * @example
 * wrapResponse(res, session, wrappers, key);
 * // later
 * unwrapResponse(res, originals, key);
 */
export function wrapResponse(
  res: ServerResponse,
  session: TeeSession,
  wrappers: Patchable,
  key: symbol,
): void {
  const target = res as unknown as Patchable;
  session.originals = {
    write: target.write,
    end: target.end,
    writeHead: target.writeHead,
    flushHeaders: target.flushHeaders,
    destroy: target.destroy,
    wrappers,
  };
  session.wire = target.write === proto.write && target.end === proto.end;
  (res as Tagged)[key] = session;
  target.write = wrappers.write;
  target.end = wrappers.end;
  target.writeHead = wrappers.writeHead;
  target.flushHeaders = wrappers.flushHeaders;
  target.destroy = wrappers.destroy;
}

/**
 * Puts the response's methods back, each unless someone wrapped it again on
 * top of the tee. A method that came from the prototype is assigned back
 * rather than deleted: `delete` would turn the response into a slow
 * dictionary-mode object.
 *
 * @example
 * unwrapResponse(res, originals, key);
 */
export function unwrapResponse(res: ServerResponse, originals: Originals, key: symbol): void {
  const target = res as unknown as Patchable;
  const { wrappers } = originals;
  let all = true;
  if (target.write === wrappers.write) target.write = originals.write;
  else all = false;
  if (target.end === wrappers.end) target.end = originals.end;
  else all = false;
  if (target.writeHead === wrappers.writeHead) target.writeHead = originals.writeHead;
  else all = false;
  if (target.flushHeaders === wrappers.flushHeaders) target.flushHeaders = originals.flushHeaders;
  else all = false;
  if (target.destroy === wrappers.destroy) target.destroy = originals.destroy;
  else all = false;
  // A wrapper someone put on top still calls ours, which needs the session to reach the originals.
  if (all) (res as Tagged)[key] = undefined;
}

/**
 * Taps the request body as the application reads it, by wrapping this
 * request's `emit` for `'data'` (which Node emits both in flowing mode and
 * for every `read()`), so the tee adds no `'data'` listener and never
 * switches the stream to flowing mode: a body nobody reads stays unread.
 * Returns the undo function.
 *
 * @example
 * const untap = tapRequest(req, session);
 */
export function tapRequest(req: IncomingMessage, session: TeeSession): () => void {
  const target = req as unknown as { emit: Method };
  const emit = target.emit;
  function teeEmit(...args: unknown[]): unknown {
    if (args[0] === 'data') session.onRequestData(args[1]);
    return Reflect.apply(emit, req, args);
  }
  target.emit = teeEmit;
  return function untapRequest(): void {
    if (target.emit === teeEmit) target.emit = emit;
  };
}
