import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The `next` callback of the Connect/Express chain.
 *
 * @example
 * const passThrough: RequestHandler = (req, res, next: NextFunction) => next();
 */
export type NextFunction = (err?: unknown) => void;

/**
 * A middleware as Connect, Express 4/5, NestJS's middleware consumer and a
 * plain `node:http` chain call it. Express's own `Request`/`Response` extend
 * these Node types, so every streamguard middleware is accepted by `app.use`.
 *
 * @example
 * const hello: RequestHandler = (req, res) => res.end('hi');
 */
export type RequestHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next: NextFunction,
) => void;

/**
 * An error-handling middleware (four parameters, as Express and Connect detect it).
 *
 * @example
 * const last: ErrorRequestHandler = (err, req, res, next) => next(err);
 */
export type ErrorRequestHandler = (
  err: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  next: NextFunction,
) => void;
