import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpError } from '../core/errors.js';
import { firstHeaderValue } from '../core/headers.js';
import { isParsedByBodyParser, keepReadableAlive, shareShape } from '../core/internals.js';
import { ensureLocals, LOCALS } from '../core/locals.js';
import type { NextFunction, RequestHandler } from '../core/types.js';
import { adopt } from './adopt.js';
import { type Config, type RereadableBodyOptions, readConfig } from './config.js';
import { fail } from './drain.js';
import { encodingUnsupported, tooLarge, wireTooLarge } from './errors.js';
import './locals.js';
import { hasBody } from './media.js';
import type { BufferPool } from './pool.js';
import { type ReadResult, readBody } from './reader.js';
import { RereadableBody } from './rereadable.js';
import { publishRead, settle } from './settle.js';

export type { RereadableBodyOptions } from './config.js';

/**
 * The middleware, with the pool it leases from.
 *
 * @example
 * const body = rereadableBody();
 * app.use(body);
 * app.get('/pool', (_req, res) => res.json(body.pool.stats()));
 */
export type RereadableBodyMiddleware = RequestHandler & {
  /** The pool this middleware leases from (for `stats()`). */
  readonly pool: BufferPool;
};

const ENCODINGS = new Set(['identity', 'gzip', 'x-gzip', 'deflate', 'br']);

/**
 * Reads the request body once into memory leased from a {@link BufferPool}
 * and makes it readable again: `res.locals.body` is a {@link RereadableBody},
 * and `req` itself streams the identical bytes to every later consumer
 * (`express.json()`, multer, a proxy, `req.pipe()`, `for await`). The memory
 * goes back to the pool when the response has finished and every replay has
 * ended.
 *
 * @example
 * import { rereadableBody, githubVerify } from 'streamguard/body';
 * app.post('/webhooks/github',
 *   rereadableBody({ limit: '256kb', verify: githubVerify(process.env.GH_SECRET!) }),
 *   express.json(),                        // still works: req is readable again
 *   (req, res) => res.json({ ok: true, bytes: res.locals.body!.length }),
 * );
 */
export function rereadableBody(options?: RereadableBodyOptions): RereadableBodyMiddleware {
  const config = readConfig(options);
  const middleware = function rereadableBodyMiddleware(
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
  ): void {
    if (!hasBody(req)) {
      next();
      return;
    }
    handle(config, req, res, next);
  };
  return Object.assign(middleware, { pool: config.pool });
}

function handle(
  config: Config,
  req: IncomingMessage,
  res: ServerResponse,
  next: NextFunction,
): void {
  const locals = ensureLocals(res);
  if (locals[LOCALS.body] instanceof RereadableBody) {
    next();
    return;
  }
  let matched: boolean;
  try {
    matched = config.matches(req);
  } catch (err) {
    fail(config, req, res, next, err);
    return;
  }
  if (!matched) {
    next();
    return;
  }
  // The replay adds `_read` to `req`: on Express, give the request a shared hidden class now,
  // before the read, so the read's own accesses to `req` hit V8's caches too.
  shareShape(req, 'res');
  if (isParsedByBodyParser(req) || req.readableEnded || !req.readable) {
    adopt(config, req, res, next);
    return;
  }
  const encoding = (firstHeaderValue(req.headers['content-encoding']) ?? 'identity')
    .trim()
    .toLowerCase();
  if (!ENCODINGS.has(encoding) || (!config.inflate && encoding !== 'identity')) {
    fail(config, req, res, next, encodingUnsupported(encoding));
    return;
  }
  const lengthHeader = firstHeaderValue(req.headers['content-length']);
  const expected = lengthHeader === undefined ? undefined : Number(lengthHeader);
  if (encoding === 'identity' && expected !== undefined && expected > config.limit) {
    fail(config, req, res, next, tooLarge(config.limit, 0, expected));
    return;
  }
  if (expected !== undefined && expected > config.wireLimit) {
    fail(config, req, res, next, wireTooLarge(config.wireLimit, 0, encoding, expected));
    return;
  }
  // The replay takes the stream over when the read ends: Node must not
  // destroy it (and emit a late 'close' on the replay) after the first 'end'.
  keepReadableAlive(req);
  readBody(
    req,
    config.pool,
    encoding,
    expected,
    config,
    function bodyRead(err: HttpError | null, result?: ReadResult): void {
      if (err !== null || result === undefined) {
        fail(config, req, res, next, err);
        return;
      }
      publishRead({ length: result.length, received: result.received, encoding, adopted: false });
      if (encoding !== 'identity') {
        delete req.headers['content-encoding'];
        delete req.headers['transfer-encoding'];
        req.headers['content-length'] = String(result.length);
      }
      settle(
        config,
        req,
        res,
        next,
        new RereadableBody(result.lease, result.length, req.headers['content-type']),
      );
    },
  );
}
