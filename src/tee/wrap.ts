import { type IncomingMessage, OutgoingMessage, type ServerResponse } from 'node:http';
import { shareShape } from '../core/internals.js';
import type { TeeSession } from './session.js';

type Method = (...args: unknown[]) => unknown;
/**
 * The response methods a tee wraps.
 *
 * @example
 * const wrappers: Patchable = createWrappers(new WeakMap());
 */
export type Patchable = Record<'write' | 'end' | 'flushHeaders', Method>;

/**
 * The methods a tee replaced on one response, and the wrappers it put there.
 *
 * @example
 * if (session.originals) unwrapResponse(res, session.originals, sessions);
 */
export interface Originals {
  readonly write: Method;
  readonly end: Method;
  readonly flushHeaders: Method;
  readonly wrappers: Patchable;
}

/** Which session tees a response, per `responseTee()` factory. */
export type SessionMap = WeakMap<object, TeeSession>;

const proto = OutgoingMessage.prototype as unknown as Patchable;

/**
 * The wrappers of one `responseTee()` factory. They are created once per
 * factory, not per response: each finds its response's session in the
 * factory's `sessions` map.
 *
 * Only `write`, `end` and `flushHeaders` are wrapped, as few own properties
 * as the tee can add: headers passed to `writeHead` are read back from the
 * flushed header block, the moment headers go out is seen by these three,
 * and a server-side `res.destroy(err)` is `res.errored`. On Express,
 * {@link wrapResponse} first gives the response a shared hidden class
 * (`shareShape`): without it each own property costs about 2 µs there.
 *
 * @example
 * const wrappers = createWrappers(new WeakMap());
 */
export function createWrappers(sessions: SessionMap): Patchable {
  function teeWrite(this: unknown, ...args: unknown[]): unknown {
    const session = sessions.get(this as object);
    if (session === undefined) return Reflect.apply(proto.write, this, args);
    const res = session.res;
    const open = !res.writableEnded && !res.destroyed;
    const result = Reflect.apply(session.originals!.write, res, args);
    if (open) session.onBody(args[0], args[1]);
    return result;
  }
  function teeEnd(this: unknown, ...args: unknown[]): unknown {
    const session = sessions.get(this as object);
    if (session === undefined) return Reflect.apply(proto.end, this, args);
    const res = session.res;
    const open = !res.writableEnded && !res.destroyed;
    // Ended on a dead connection (a 499 from req.on('close'), an error handler answering an
    // aborted upload): Node still marks it finished, but the client got nothing.
    if (!res.writableEnded && res.destroyed) session.endedAfterLoss = true;
    const result = Reflect.apply(session.originals!.end, res, args);
    if (open) {
      if (typeof args[0] !== 'function') session.onBody(args[0], args[1]);
      session.onEnd();
    }
    return result;
  }
  function teeFlushHeaders(this: unknown, ...args: unknown[]): unknown {
    const session = sessions.get(this as object);
    if (session === undefined) return Reflect.apply(proto.flushHeaders, this, args);
    const result = Reflect.apply(session.originals!.flushHeaders, session.res, args);
    session.onHeaders();
    return result;
  }
  return { write: teeWrite, end: teeEnd, flushHeaders: teeFlushHeaders };
}

/**
 * Wraps `res.write`, `res.end` and `res.flushHeaders` on this instance only.
 * Each wrapper forwards its arguments untouched first (every overload,
 * callbacks included) and returns what the original returned (backpressure
 * and `'drain'` intact); only then does it count and copy. Sets
 * `session.wire` (whether the tee sits directly on Node's own write path).
 *
 * @example
 * wrapResponse(res, session, wrappers, sessions);
 * // later
 * unwrapResponse(res, originals, sessions);
 */
export function wrapResponse(
  res: ServerResponse,
  session: TeeSession,
  wrappers: Patchable,
  sessions: SessionMap,
): void {
  const target = res as unknown as Patchable;
  const write = target.write;
  const end = target.end;
  session.originals = { write, end, flushHeaders: target.flushHeaders, wrappers };
  session.wire = write === proto.write && end === proto.end;
  sessions.set(res, session);
  // On Express, give the response a shared hidden class first: each own property added to
  // it otherwise costs a hidden class of its own and makes later reads of `res` miss.
  shareShape(res, 'req');
  target.write = wrappers.write;
  target.end = wrappers.end;
  target.flushHeaders = wrappers.flushHeaders;
}

/**
 * Puts the response's methods back, each unless someone wrapped it again on
 * top of the tee. A method that came from the prototype is assigned back
 * rather than deleted: on a stock `node:http` response, whose hidden class
 * is shared and fast, `delete` would turn it into a slower dictionary-mode
 * object (an Express response is one already, see `shareShape`).
 *
 * @example
 * unwrapResponse(res, originals, sessions);
 */
export function unwrapResponse(
  res: ServerResponse,
  originals: Originals,
  sessions: SessionMap,
): void {
  const target = res as unknown as Patchable;
  const { wrappers } = originals;
  let all = true;
  if (target.write === wrappers.write) target.write = originals.write;
  else all = false;
  if (target.end === wrappers.end) target.end = originals.end;
  else all = false;
  if (target.flushHeaders === wrappers.flushHeaders) target.flushHeaders = originals.flushHeaders;
  else all = false;
  // A wrapper someone put on top still calls ours, which needs the session to reach the originals.
  if (all) sessions.delete(res);
}

/**
 * Taps the request body as the application reads it, by wrapping this
 * request's `emit` for `'data'` (which Node emits both in flowing mode and
 * for every `read()`), so the tee adds no `'data'` listener and never
 * switches the stream to flowing mode: a body nobody reads stays unread.
 *
 * The tap stops at the first `'end'` it sees: everything after is a replay
 * of the same bytes (`rereadableBody()` mounted after the tee pushes the body
 * again into `req` for every parser that reads it), so the capture is the
 * body the client sent, once. Returns the undo function.
 *
 * @example
 * const untap = tapRequest(req, session);
 */
export function tapRequest(req: IncomingMessage, session: TeeSession): () => void {
  const target = req as unknown as { emit: Method };
  const emit = target.emit;
  let ended = false;
  shareShape(req, 'res');
  function teeEmit(...args: unknown[]): unknown {
    if (!ended) {
      if (args[0] === 'data') session.onRequestData(args[1]);
      else if (args[0] === 'end') {
        ended = true;
        untapRequest();
      }
    }
    return Reflect.apply(emit, req, args);
  }
  function untapRequest(): void {
    if (target.emit === teeEmit) target.emit = emit;
  }
  target.emit = teeEmit;
  return untapRequest;
}
