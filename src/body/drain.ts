import type { IncomingMessage, ServerResponse } from 'node:http';
import { type BodyErrorMessage, CHANNELS, publisher } from '../core/instrument.js';
import { dropRequestBody, keepReadableAlive } from '../core/internals.js';
import { onResponseDone } from '../core/lifecycle.js';
import type { NextFunction } from '../core/types.js';
import type { Config } from './config.js';
import { isWireOverrun } from './errors.js';

const publishError = publisher<BodyErrorMessage>(CHANNELS.bodyError);

/**
 * Passes `err` on after making sure the socket cannot hang: the rest of the
 * body is drained by whoever answers (errorFrames, finalhandler, Node after
 * the response), but at most `drainLimit` more bytes; past that the
 * connection is closed.
 *
 * @example
 * fail(config, req, res, next, tooLarge(config.limit, 0, expected));
 */
export function fail(
  config: Config,
  req: IncomingMessage,
  res: ServerResponse,
  next: NextFunction,
  err: unknown,
): void {
  const e = err as {
    status?: number;
    type?: string;
    encoding?: string;
    limit?: number;
    received?: number;
  };
  publishError({ status: e.status ?? 500, type: e.type ?? 'unknown' });
  if (!req.complete && !req.destroyed) {
    // A stalled client, or one that sent more than wireLimit: answered, then no longer read.
    if (e.type === 'request.timeout' || isWireOverrun(e)) stopReading(req, res, config.timeout);
    else boundDrain(req, res, config);
  }
  next(err);
}

function boundDrain(req: IncomingMessage, res: ServerResponse, config: Config): void {
  let drained = 0;
  function countDrained(chunk: Buffer): void {
    drained += chunk.length;
    if (drained > config.drainLimit) {
      // Our own listeners first: stopReading() must see only the readers still there.
      stopCounting();
      stopReading(req, res, config.timeout);
    }
  }
  function stopCounting(): void {
    req.removeListener('data', countDrained);
    req.removeListener('end', stopCounting);
    req.removeListener('close', stopCounting);
  }
  req.on('data', countDrained);
  req.once('end', stopCounting);
  req.once('close', stopCounting);
}

/** Time the answer to a request that is no longer read may take before its socket is destroyed. */
const ANSWER_GRACE = 30_000;

/**
 * Stops reading a request whose body will not be read to its end (a stalled
 * client, a body far over the limit), without losing the answer: the
 * response will carry `Connection: close` and Node closes the socket once
 * it is flushed; the socket is no longer read and body bytes still parsed
 * are dropped; the request's stream ends, so an error handler waiting for
 * it (finalhandler, errorFrames) answers now. If no answer is flushed
 * within `timeout` (or 30 s), the socket is destroyed.
 */
function stopReading(req: IncomingMessage, res: ServerResponse, timeout: number): void {
  // Node's parser drops body bytes of a dumped request instead of pushing them.
  if (!dropRequestBody(req)) return;
  res.shouldKeepAlive = false;
  const socket = req.socket;
  socket?.pause();
  // End the stream where its reader will see it: an error handler already
  // reading (draining) gets 'end' now; one still to come (Express defers its
  // final handler) gets it when it resumes the request.
  const reading = req.listenerCount('data') > 0 || req.listenerCount('end') > 0;
  // Ending an incomplete request would auto-destroy it, and Node then destroys
  // the socket: an answer still to be written (finalhandler writes a turn after
  // 'end') would never reach the client.
  keepReadableAlive(req);
  req.pause();
  req.push(null);
  if (reading) req.resume();
  const timer = setTimeout(
    function closeUnanswered(): void {
      socket?.destroy();
    },
    timeout > 0 ? timeout : ANSWER_GRACE,
  ).unref();
  onResponseDone(res, function answered(): void {
    clearTimeout(timer);
  });
}
