import type { IncomingMessage } from 'node:http';
import type { Writable } from 'node:stream';
import { HttpError } from '../core/errors.js';
import { markNotReading, pipeCount, renewReadableState } from '../core/internals.js';
import { CHUNK, type RereadableBody } from './rereadable.js';

type ReplayableRequest = IncomingMessage & {
  _read: (size: number) => void;
};

/** Stops a request replay when the response is done. */
export interface ReplayHandle {
  /** Drops the replay's hold on the body; later reads of `req` fail with `body.released`. */
  stop(): void;
}

interface ReplayState {
  stopped: boolean;
  /** The release function of the hold the current pass has, if any. */
  letGo: (() => void) | undefined;
  /** Removes the current pass's listeners and `_read` from `req`. */
  disarm: (() => void) | undefined;
}

/**
 * Makes `req` a fresh byte stream over `body`: `req.pipe()`, `for await`,
 * body-parser, multer and proxies read the identical bytes. When a consumer
 * has read it to the end it is armed again for the next one. Chunks are
 * copies the consumer owns (a proxy or multer may keep them). A pass holds
 * the body while it is being read; the response finishing stops it.
 */
export function makeRereadable(req: IncomingMessage, body: RereadableBody): ReplayHandle {
  const state: ReplayState = { stopped: false, letGo: undefined, disarm: undefined };
  arm(req as ReplayableRequest, body, state, false);
  return {
    stop(): void {
      state.stopped = true;
      state.letGo?.();
      // Idle keep-alive sockets keep their last request alive: let go of the body.
      state.disarm?.();
    },
  };
}

function arm(
  req: ReplayableRequest,
  body: RereadableBody,
  replay: ReplayState,
  again: boolean,
): void {
  // Pipes of the consumer that just finished: their own 'end' handler (which
  // ends the destination) still has to run in this emit, so their listeners
  // are removed a tick later, before the new pass can push anything (it
  // starts in setImmediate at the earliest). Not req.unpipe(): that works on
  // req's current state, which is the new one by then.
  const oldPipes = renewReadableState(req);
  if (oldPipes.length > 0) process.nextTick(unpipeAll, req, oldPipes);
  let offset = 0;
  let holding = false;
  let waiting = again;

  function letGo(): void {
    req.removeListener('end', passEnded);
    req.removeListener('close', letGo);
    if (holding) {
      holding = false;
      replay.letGo = undefined;
      body.release();
    }
  }
  function passEnded(): void {
    letGo();
    // Synchronously, and first among the 'end' listeners (prepended): a
    // consumer's own 'end' handler may call next() at once (raw-body does),
    // and a `for await (const c of req)` there must find req readable again.
    rearm(req, body, replay);
  }
  function pushNext(): void {
    if (!holding) {
      if (replay.stopped || body.released) {
        req.destroy(releasedError());
        return;
      }
      body.retain();
      holding = true;
      replay.letGo = letGo;
      // Listeners only once someone reads: most requests are never re-read.
      req.prependListener('end', passEnded);
      req.on('close', letGo);
    }
    if (offset >= body.length) {
      req.push(null);
      return;
    }
    const end = Math.min(body.length, offset + CHUNK);
    const chunk = body.slice(offset, end);
    offset = end;
    req.push(chunk);
  }
  function startWhenConsumed(): void {
    // A consumer that just saw the previous pass end may call read() once
    // more; only a consumer still listening gets a new pass.
    if (hasConsumer(req)) {
      waiting = false;
      pushNext();
      return;
    }
    markNotReading(req);
  }
  req._read = function replayRead(): void {
    if (waiting) {
      setImmediate(startWhenConsumed);
      return;
    }
    pushNext();
  };
  replay.disarm = function disarm(): void {
    req.removeListener('end', passEnded);
    req.removeListener('close', letGo);
    if (req._read === replayRead) req._read = stoppedRead;
  };
  const replayRead = req._read;
}

function stoppedRead(this: ReplayableRequest): void {
  this.destroy(releasedError());
}

function hasConsumer(req: ReplayableRequest): boolean {
  return req.listenerCount('data') > 0 || req.listenerCount('readable') > 0 || pipeCount(req) > 0;
}

/** What `Readable.prototype.unpipe` tells each destination: its pipe removes its listeners. */
function unpipeAll(req: ReplayableRequest, dests: Writable[]): void {
  for (const dest of dests) dest.emit('unpipe', req, { hasUnpiped: false });
}

function rearm(req: ReplayableRequest, body: RereadableBody, replay: ReplayState): void {
  if (replay.stopped || body.released || req.destroyed) return;
  arm(req, body, replay, true);
}

function releasedError(): HttpError {
  return new HttpError(
    500,
    'body.released',
    'the request body was released when the response finished',
  );
}
