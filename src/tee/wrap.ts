import { type IncomingMessage, OutgoingMessage, type ServerResponse } from 'node:http';
import { writeHeadHeaders } from './headers';
import type { TeeSession } from './session';

type Method = (...args: unknown[]) => unknown;
type Patchable = Record<'write' | 'end' | 'writeHead' | 'flushHeaders' | 'destroy', Method>;

/**
 * Wraps `res.write`, `res.end`, `res.writeHead`, `res.flushHeaders` and
 * `res.destroy` on this instance only. Each wrapper forwards its arguments
 * untouched first (every overload, callbacks included) and returns what the
 * original returned (backpressure and `'drain'` intact); only then does it
 * count and copy. Returns the undo function, which restores a method only
 * if nobody wrapped it again on top of the tee.
 *
 * @example
 * const unwrap = wrapResponse(res, session);
 */
export function wrapResponse(res: ServerResponse, session: TeeSession): () => void {
  const target = res as unknown as Patchable;
  const write = target.write;
  const end = target.end;
  const writeHead = target.writeHead;
  const flushHeaders = target.flushHeaders;
  const destroy = target.destroy;
  const proto = OutgoingMessage.prototype as unknown as Patchable;
  session.wire = write === proto.write && end === proto.end;

  function teeWrite(...args: unknown[]): unknown {
    const open = !res.writableEnded && !res.destroyed;
    const result = Reflect.apply(write, res, args);
    if (open) session.onBody(args[0], args[1]);
    return result;
  }

  function teeEnd(...args: unknown[]): unknown {
    const open = !res.writableEnded && !res.destroyed;
    const result = Reflect.apply(end, res, args);
    if (open && typeof args[0] !== 'function') session.onBody(args[0], args[1]);
    return result;
  }

  function teeWriteHead(...args: unknown[]): unknown {
    const result = Reflect.apply(writeHead, res, args);
    const headersArg = typeof args[1] === 'string' ? args[2] : args[1];
    session.onHeaders(headersArg === undefined ? undefined : writeHeadHeaders(headersArg));
    return result;
  }

  function teeFlushHeaders(...args: unknown[]): unknown {
    const result = Reflect.apply(flushHeaders, res, args);
    session.onHeaders(undefined);
    return result;
  }

  function teeDestroy(...args: unknown[]): unknown {
    if (!res.destroyed && !res.writableFinished && !session.done) {
      session.destroyedByServer = true;
      session.destroyError = args[0];
    }
    return Reflect.apply(destroy, res, args);
  }

  const wrappers: [keyof Patchable, Method, Method][] = [
    ['write', write, teeWrite],
    ['end', end, teeEnd],
    ['writeHead', writeHead, teeWriteHead],
    ['flushHeaders', flushHeaders, teeFlushHeaders],
    ['destroy', destroy, teeDestroy],
  ];
  const own = wrappers.map(function isOwn([name]) {
    return Object.hasOwn(res, name);
  });
  for (const [name, , wrapper] of wrappers) target[name] = wrapper;

  return function unwrapResponse(): void {
    wrappers.forEach(function restore([name, original, wrapper], i) {
      if (target[name] !== wrapper) return;
      if (own[i]) target[name] = original;
      else delete (target as Partial<Patchable>)[name];
    });
  };
}

/**
 * Taps the request body as the application reads it, by wrapping this
 * request's `emit` for `'data'` (which Node emits both in flowing mode and
 * for every `read()`), so the tee adds no `'data'` listener and never
 * switches the stream to flowing mode: a body nobody reads stays unread.
 * Returns the undo function.
 *
 * @example
 * const unwrap = tapRequest(req, session);
 */
export function tapRequest(req: IncomingMessage, session: TeeSession): () => void {
  const target = req as unknown as { emit: Method };
  const emit = target.emit;
  const own = Object.hasOwn(req, 'emit');
  function teeEmit(...args: unknown[]): unknown {
    if (args[0] === 'data') session.onRequestData(args[1]);
    return Reflect.apply(emit, req, args);
  }
  target.emit = teeEmit;
  return function untapRequest(): void {
    if (target.emit !== teeEmit) return;
    if (own) target.emit = emit;
    else delete (target as Partial<{ emit: Method }>).emit;
  };
}
