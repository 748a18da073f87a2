import { type IncomingMessage, OutgoingMessage, type ServerResponse } from 'node:http';
import { writeHeadHeaders } from './headers';
import type { TeeSession } from './session';

type Method = (...args: unknown[]) => unknown;
type Patchable = Record<'write' | 'end' | 'writeHead' | 'flushHeaders' | 'destroy', Method>;

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

// The wrappers are module-level functions bound per response to its session
// (cheaper to create than five closures, and nothing per-request lives here).

function teeWrite(this: TeeSession, ...args: unknown[]): unknown {
  const res = this.res;
  const open = !res.writableEnded && !res.destroyed;
  const result = Reflect.apply(this.originals!.write, res, args);
  if (open) this.onBody(args[0], args[1]);
  return result;
}

function teeEnd(this: TeeSession, ...args: unknown[]): unknown {
  const res = this.res;
  const open = !res.writableEnded && !res.destroyed;
  const result = Reflect.apply(this.originals!.end, res, args);
  if (open) {
    if (typeof args[0] !== 'function') this.onBody(args[0], args[1]);
    this.onEnd();
  }
  return result;
}

function teeWriteHead(this: TeeSession, ...args: unknown[]): unknown {
  const result = Reflect.apply(this.originals!.writeHead, this.res, args);
  const headersArg = typeof args[1] === 'string' ? args[2] : args[1];
  this.onHeaders(headersArg === undefined ? undefined : writeHeadHeaders(headersArg));
  return result;
}

function teeFlushHeaders(this: TeeSession, ...args: unknown[]): unknown {
  const result = Reflect.apply(this.originals!.flushHeaders, this.res, args);
  this.onHeaders(undefined);
  return result;
}

function teeDestroy(this: TeeSession, ...args: unknown[]): unknown {
  const res = this.res;
  if (!res.destroyed && !res.writableFinished && !this.done) {
    this.destroyedByServer = true;
    this.destroyError = args[0];
  }
  return Reflect.apply(this.originals!.destroy, res, args);
}

const proto = OutgoingMessage.prototype as unknown as Patchable;

/**
 * Wraps `res.write`, `res.end`, `res.writeHead`, `res.flushHeaders` and
 * `res.destroy` on this instance only. Each wrapper forwards its arguments
 * untouched first (every overload, callbacks included) and returns what the
 * original returned (backpressure and `'drain'` intact); only then does it
 * count and copy. Sets `session.wire` (whether the tee sits directly on
 * Node's own write path).
 *
 * @example
 * wrapResponse(res, session);
 * // later
 * unwrapResponse(res, session);
 */
export function wrapResponse(res: ServerResponse, session: TeeSession): void {
  const target = res as unknown as Patchable;
  const wrappers: Patchable = {
    write: teeWrite.bind(session),
    end: teeEnd.bind(session),
    writeHead: teeWriteHead.bind(session),
    flushHeaders: teeFlushHeaders.bind(session),
    destroy: teeDestroy.bind(session),
  };
  session.originals = {
    write: target.write,
    end: target.end,
    writeHead: target.writeHead,
    flushHeaders: target.flushHeaders,
    destroy: target.destroy,
    wrappers,
  };
  session.wire = target.write === proto.write && target.end === proto.end;
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
 * unwrapResponse(res, session);
 */
export function unwrapResponse(res: ServerResponse, originals: Originals): void {
  const target = res as unknown as Patchable;
  const { wrappers } = originals;
  if (target.write === wrappers.write) target.write = originals.write;
  if (target.end === wrappers.end) target.end = originals.end;
  if (target.writeHead === wrappers.writeHead) target.writeHead = originals.writeHead;
  if (target.flushHeaders === wrappers.flushHeaders) target.flushHeaders = originals.flushHeaders;
  if (target.destroy === wrappers.destroy) target.destroy = originals.destroy;
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
