import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../core/errors';
import {
  type BodyErrorMessage,
  type BodyReadMessage,
  CHANNELS,
  publisher,
} from '../core/instrument';
import {
  dropRequestBody,
  isClosePending,
  isParsedByBodyParser,
  keepReadableAlive,
  rawBodyOf,
  shareShape,
} from '../core/internals';
import { onResponseDone } from '../core/lifecycle';
import { ensureLocals, LOCALS } from '../core/locals';
import { booleanOption, functionOption, numberOption, readOptions } from '../core/options';
import type { NextFunction, RequestHandler } from '../core/types';
import { parseBytes, parseDuration } from '../core/units';
import { encodingUnsupported, isWireOverrun, tooLarge, wireTooLarge } from './errors';
import './locals';
import { leasePeak, showBytes } from './budget';
import { hasBody, type TypeOption, typePredicate } from './media';
import { BufferPool } from './pool';
import { type ReadResult, readBody } from './reader';
import { makeRereadable } from './replay';
import { RereadableBody } from './rereadable';

/**
 * Options for {@link rereadableBody}.
 *
 * @example
 * const options: RereadableBodyOptions = { limit: '256kb', type: ['json', '+json'] };
 */
export interface RereadableBodyOptions {
  /** Most decoded bytes a body may have (`bytes` string or number). Default `'1mb'`. */
  limit?: number | string;
  /** Which requests to read: media types (`'json'`, `'application/*'`, `'+json'`) or a predicate. Default: every request with a body. */
  type?: TypeOption;
  /** Called with the exact bytes before `next()`; a throw is a 403 `entity.verify.failed`, as body-parser. */
  verify?: (req: IncomingMessage, res: ServerResponse, buf: Buffer) => void;
  /**
   * Most bytes on the wire (compressed bytes, before inflation); past it a
   * 413 `entity.too.large` with `encoding` set, and the request is no longer
   * read. Default: `limit` + 1/1024 of it + 1 KiB, what any encoder needs at
   * most for a body of `limit` decoded bytes (incompressible data included).
   */
  wireLimit?: number | string;
  /** Inflate gzip/deflate/br bodies; when false they are a 415. Default `true`. */
  inflate?: boolean;
  /** Largest inflated/compressed ratio accepted (zip-bomb guard). Default `100`. */
  maxInflationRatio?: number;
  /** After an error, at most this many more bytes are drained before the connection is closed. Default `'1mb'`. */
  drainLimit?: number | string;
  /** The pool to lease from; default a pool of its own (see {@link BufferPool}). */
  pool?: BufferPool;
  /**
   * Most time without a body byte (reset on every chunk) before a 408
   * `request.timeout`; the answer closes the connection. `ms` string or
   * milliseconds; `false` or `0`: no bound. Default `'30s'`.
   */
  timeout?: number | string | false;
  /**
   * Most time a `body.stream()` may stay open after the response is done;
   * past it the stream is destroyed and its hold on pooled memory ends.
   * `false` or `0`: no bound. Default `'30s'`.
   */
  streamTimeout?: number | string | false;
}

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

interface Config {
  readonly limit: number;
  readonly wireLimit: number;
  readonly maxInflationRatio: number;
  readonly inflate: boolean;
  readonly drainLimit: number;
  readonly timeout: number;
  readonly streamTimeout: number;
  readonly pool: BufferPool;
  readonly matches: (req: IncomingMessage) => boolean;
  readonly verify: ((req: IncomingMessage, res: ServerResponse, buf: Buffer) => void) | undefined;
}

const ENCODINGS = new Set(['identity', 'gzip', 'x-gzip', 'deflate', 'br']);

const publishRead = publisher<BodyReadMessage>(CHANNELS.bodyRead);
const publishError = publisher<BodyErrorMessage>(CHANNELS.bodyError);

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

function readConfig(options: RereadableBodyOptions | undefined): Config {
  const o = readOptions(options, 'rereadableBody', [
    'limit',
    'wireLimit',
    'type',
    'verify',
    'inflate',
    'maxInflationRatio',
    'drainLimit',
    'pool',
    'timeout',
    'streamTimeout',
  ]);
  const limit = parseBytes(o.limit ?? '1mb', 'limit');
  if (o.pool !== undefined && !(o.pool instanceof BufferPool))
    throw new TypeError('option pool must be a BufferPool');
  const pool = o.pool ?? defaultPool(limit);
  if (o.pool !== undefined) checkBudget(o.pool, limit);
  return Object.freeze({
    limit,
    wireLimit:
      o.wireLimit === undefined ? defaultWireLimit(limit) : parseBytes(o.wireLimit, 'wireLimit'),
    maxInflationRatio: numberOption(o.maxInflationRatio, 'maxInflationRatio', 100, 1, false),
    inflate: booleanOption(o.inflate, 'inflate', true),
    drainLimit: parseBytes(o.drainLimit ?? '1mb', 'drainLimit'),
    timeout: durationOrOff(o.timeout, 'timeout', '30s'),
    streamTimeout: durationOrOff(o.streamTimeout, 'streamTimeout', '30s'),
    pool,
    matches: typePredicate(o.type),
    verify: functionOption(o.verify, 'verify'),
  });
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
  const encoding = (headerValue(req.headers['content-encoding']) ?? 'identity')
    .trim()
    .toLowerCase();
  if (!ENCODINGS.has(encoding) || (!config.inflate && encoding !== 'identity')) {
    fail(config, req, res, next, encodingUnsupported(encoding));
    return;
  }
  const lengthHeader = headerValue(req.headers['content-length']);
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

/** A body someone else already read: adopt `req.rawBody` (NestJS `rawBody: true`) or fail clearly. */
function adopt(
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

function settle(
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

/**
 * Passes `err` on after making sure the socket cannot hang: the rest of the
 * body is drained by whoever answers (errorFrames, finalhandler, Node after
 * the response), but at most `drainLimit` more bytes; past that the
 * connection is closed.
 */
function fail(
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

/**
 * The default `wireLimit`: a body of `limit` decoded bytes needs at most
 * this many compressed bytes from any encoder, even for incompressible data
 * (deflate's stored blocks add 5 bytes per 64 KiB, gzip 18 bytes of header
 * and trailer, brotli a few bytes per meta-block), with room for a short
 * gzip file name or comment.
 */
function defaultWireLimit(limit: number): number {
  return limit + Math.ceil(limit / 1024) + 1024;
}

/** The default pool's budget when `limit` does not ask for more: 64 MiB. */
const DEFAULT_IN_FLIGHT = 64 * 1024 * 1024;

/**
 * The middleware's own pool: classes up to `limit`, and a budget of at
 * least what one body of `limit` bytes holds while its lease grows, so a
 * large `limit` is never a 503 on an idle server.
 */
function defaultPool(limit: number): BufferPool {
  const maxClass = Math.max(limit, 1024);
  const peak = leasePeak(new BufferPool({ maxClass, maxInFlight: 0 }), limit);
  return new BufferPool({ maxClass, maxInFlight: Math.max(DEFAULT_IN_FLIGHT, peak) });
}

/** A user's pool must fit one body of `limit` bytes, else every large body would be a 503. */
function checkBudget(pool: BufferPool, limit: number): void {
  const peak = leasePeak(pool, limit);
  if (pool.maxInFlight < peak) {
    throw new TypeError(
      `option limit (${showBytes(limit)}) needs a pool with maxInFlight >= ${showBytes(peak)} ` +
        `(a body of limit bytes briefly holds two size classes while its lease grows); ` +
        `option pool.maxInFlight is ${showBytes(pool.maxInFlight)}`,
    );
  }
}

/** A duration option that `false` or `0` switches off (returned as 0). */
function durationOrOff(value: unknown, option: string, fallback: string): number {
  if (value === false) return 0;
  return parseDuration(value ?? fallback, option);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
