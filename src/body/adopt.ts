import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../core/errors.js';
import { isClosePending, keepReadableAlive, rawBodyOf } from '../core/internals.js';
import type { NextFunction } from '../core/types.js';
import type { Config } from './config.js';
import { fail } from './drain.js';
import { tooLarge } from './errors.js';
import type { BufferPool } from './pool.js';
import { RereadableBody } from './rereadable.js';
import { publishRead, settle } from './settle.js';

/**
 * A body someone else already read: adopt `req.rawBody` (NestJS `rawBody: true`) or fail
 * clearly with a 500 `body.already.consumed` naming the fix.
 *
 * @example
 * if (isParsedByBodyParser(req) || req.readableEnded) adopt(config, req, res, next);
 */
export function adopt(
  config: Config,
  req: IncomingMessage,
  res: ServerResponse,
  next: NextFunction,
): void {
  const raw = rawBodyOf(req);
  if (raw === undefined) {
    fail(
      config,
      req,
      res,
      next,
      new HttpError(
        500,
        'body.already.consumed',
        'the request body was already consumed by another body parser before rereadableBody(); ' +
          'mount rereadableBody() before it, or in NestJS create the app with ' +
          'NestFactory.create(AppModule, { bodyParser: false }) (or { rawBody: true } so the raw bytes can be adopted)',
        { expose: false },
      ),
    );
    return;
  }
  if (raw.length > config.limit) {
    fail(config, req, res, next, tooLarge(config.limit, raw.length, raw.length));
    return;
  }
  // Called from the parser's 'end' listener, Node would destroy the stream
  // right after (autoDestroy), which would hit the replay: keep it alive.
  keepReadableAlive(req);
  if (isClosePending(req)) {
    // The parser's stream is still closing; a late 'close' must not hit the replay.
    req.once('close', function adoptAfterClose(): void {
      adopt(config, req, res, next);
    });
    return;
  }
  let lease: ReturnType<BufferPool['lease']>;
  try {
    lease = config.pool.lease(raw.length);
  } catch (err) {
    fail(config, req, res, next, err);
    return;
  }
  new Uint8Array(lease.memory).set(raw);
  lease.used = raw.length;
  publishRead({ length: raw.length, received: raw.length, encoding: 'identity', adopted: true });
  settle(
    config,
    req,
    res,
    next,
    new RereadableBody(lease, raw.length, req.headers['content-type']),
  );
}
