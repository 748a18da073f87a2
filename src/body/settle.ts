import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../core/errors.js';
import { type BodyReadMessage, CHANNELS, publisher } from '../core/instrument.js';
import { onResponseDone } from '../core/lifecycle.js';
import { ensureLocals, LOCALS } from '../core/locals.js';
import type { NextFunction } from '../core/types.js';
import type { Config } from './config.js';
import { makeRereadable } from './replay.js';
import type { RereadableBody } from './rereadable.js';

/**
 * Publishes a body read (or adopted) on `streamguard:body:read`.
 *
 * @example
 * publishRead({ length, received, encoding: 'identity', adopted: false });
 */
export const publishRead = publisher<BodyReadMessage>(CHANNELS.bodyRead);

/**
 * Hands a body that is in on: runs `verify`, makes `req` readable again, puts the body on
 * `res.locals.body`, and releases it (once) when the response is done.
 *
 * @example
 * settle(config, req, res, next, new RereadableBody(lease, length, contentType));
 */
export function settle(
  config: Config,
  req: IncomingMessage,
  res: ServerResponse,
  next: NextFunction,
  body: RereadableBody,
): void {
  if (config.verify !== undefined) {
    try {
      config.verify(req, res, body.buffer());
    } catch (err) {
      body.release();
      next(verifyFailed(err));
      return;
    }
  }
  const replay = makeRereadable(req, body);
  onResponseDone(res, function releaseBody(): void {
    replay.stop();
    body.release();
    body.expireStreams(config.streamTimeout);
  });
  ensureLocals(res)[LOCALS.body] = body;
  next();
}

function verifyFailed(err: unknown): HttpError {
  const message = err instanceof Error ? err.message : 'verification failed';
  return new HttpError(403, 'entity.verify.failed', message, { cause: err });
}
