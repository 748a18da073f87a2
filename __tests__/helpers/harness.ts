import 'reflect-metadata';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type ArgumentsHost,
  Catch,
  type MiddlewareConsumer,
  Module,
  RequestMethod,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import connect from 'connect';
import express5 from 'express';
import express4 from 'express4';
import type { ErrorRequestHandler, NextFunction, RequestHandler } from '../../src/core/types';
import { errorFrames } from '../../src/errors';

/** The five ways users mount streamguard; every middleware is tested on each. */
export const FLAVOURS = ['express4', 'express5', 'connect', 'http', 'nest'] as const;
export type Flavour = (typeof FLAVOURS)[number];

/** A terminal handler: may be async; a throw or rejection goes to `next(err)`. */
export type Handler = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => unknown;

export interface AppSpec {
  /** Middlewares, in order, before the handler. */
  use?: RequestHandler[];
  /** The route handler; default answers 404. */
  handler?: Handler;
  /** The error handler; default `errorFrames({ log5xx: false })`. Errors are recorded either way. */
  errorHandler?: ErrorRequestHandler;
  /** NestJS only: keep Nest's default body parser (off by default). */
  nestBodyParser?: boolean;
  /** NestJS only: `rawBody: true` (Nest's parser keeps `req.rawBody`); needs `nestBodyParser`. */
  nestRawBody?: boolean;
  /**
   * Errors this test expects the app to record that are not HTTP errors (a handler that
   * throws on purpose): `true` for any, or a predicate. Without it, an error without an
   * HTTP status (4xx/5xx) that reaches the error handler, an assertion thrown inside a
   * handler included, fails the test when its apps are closed.
   */
  expectErrors?: boolean | ((err: unknown) => boolean);
}

export interface Mounted {
  flavour: Flavour;
  server: Server;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Every error that reached the error handler, in order. */
  errors: unknown[];
  close(): Promise<void>;
}

const open = new Set<Mounted>();
const expectations = new WeakMap<Mounted, AppSpec['expectErrors']>();

/**
 * Mounts the same middlewares and handler on one flavour and listens on a free
 * loopback port. Apps are closed by {@link closeAllApps} (run after each test).
 */
export async function mount(flavour: Flavour, spec: AppSpec): Promise<Mounted> {
  const errors: unknown[] = [];
  const errorHandler = spec.errorHandler ?? errorFrames({ log5xx: false });
  const recordingErrorHandler: ErrorRequestHandler = function recordError(err, req, res, next) {
    errors.push(err);
    errorHandler(err, req, res, next);
  };
  const middlewares = spec.use ?? [];
  const terminal = terminalHandler(spec.handler ?? notFound);
  const server = await build(flavour, middlewares, terminal, recordingErrorHandler, spec);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const mounted: Mounted = {
    flavour,
    server,
    url: `http://127.0.0.1:${port}`,
    errors,
    close: () => closeServer(server).finally(() => open.delete(mounted)),
  };
  open.add(mounted);
  expectations.set(mounted, spec.expectErrors);
  return mounted;
}

/**
 * Closes every app {@link mount} opened; registered in the jest setup (after each test).
 * Then fails the test if an app recorded an error it did not expect (see
 * {@link AppSpec.expectErrors}).
 */
export async function closeAllApps(): Promise<void> {
  const apps = [...open];
  await Promise.all(apps.map((m) => m.close()));
  const unexpected = apps.flatMap((m) => unexpectedErrors(m));
  if (unexpected.length > 0) {
    const list = unexpected.map(({ flavour, err }) => `  ${flavour}: ${describeError(err)}`);
    throw new Error(
      `the app recorded ${unexpected.length} unexpected error(s) (mount with expectErrors to allow):\n${list.join('\n')}`,
    );
  }
}

/** An error shaped like http-errors / HttpError: a numeric 4xx or 5xx `status`. */
function isHttpError(err: unknown): boolean {
  const status = (err as { status?: unknown } | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 600;
}

function unexpectedErrors(m: Mounted): { flavour: Flavour; err: unknown }[] {
  const expect = expectations.get(m);
  if (expect === true) return [];
  return m.errors
    .filter((err) => !isHttpError(err) && !(typeof expect === 'function' && expect(err)))
    .map((err) => ({ flavour: m.flavour, err }));
}

function describeError(err: unknown): string {
  if (err instanceof Error)
    return (err.stack ?? `${err.name}: ${err.message}`).split('\n').slice(0, 4).join('\n    ');
  return String(err);
}

function notFound(_req: IncomingMessage, res: ServerResponse): void {
  res.statusCode = 404;
  res.end('not found');
}

function terminalHandler(handler: Handler): RequestHandler {
  return function terminal(req, res, next) {
    try {
      const result = handler(req, res, next);
      if (result instanceof Promise) result.catch(next);
    } catch (err) {
      next(err);
    }
  };
}

async function build(
  flavour: Flavour,
  middlewares: RequestHandler[],
  terminal: RequestHandler,
  onError: ErrorRequestHandler,
  spec: AppSpec,
): Promise<Server> {
  switch (flavour) {
    case 'express4':
    case 'express5': {
      const app = flavour === 'express4' ? express4() : express5();
      for (const mw of middlewares) app.use(mw);
      app.use(terminal);
      app.use(onError);
      return createServer(app);
    }
    case 'connect': {
      const app = connect();
      for (const mw of middlewares) app.use(mw as connect.NextHandleFunction);
      app.use(terminal as connect.NextHandleFunction);
      app.use(onError as connect.ErrorHandleFunction);
      return createServer(app);
    }
    case 'http':
      return createServer(chain([...middlewares, terminal], onError));
    case 'nest':
      return buildNest(
        [...middlewares, terminal],
        onError,
        spec.nestBodyParser ?? false,
        spec.nestRawBody ?? false,
      );
  }
}

/** A minimal Connect-style chain over plain `node:http`, as a user without a framework writes it. */
function chain(handlers: RequestHandler[], onError: ErrorRequestHandler) {
  return function handle(req: IncomingMessage, res: ServerResponse): void {
    let index = 0;
    let failed = false;
    function next(err?: unknown): void {
      if (err !== undefined && err !== null) {
        if (failed) return;
        failed = true;
        onError(err, req, res, () => res.destroy());
        return;
      }
      const handler = handlers[index++];
      if (handler === undefined) return;
      try {
        handler(req, res, next);
      } catch (thrown) {
        next(thrown);
      }
    }
    next();
  };
}

async function buildNest(
  handlers: RequestHandler[],
  onError: ErrorRequestHandler,
  bodyParser: boolean,
  rawBody = false,
): Promise<Server> {
  class AppModule {
    configure(consumer: MiddlewareConsumer): void {
      consumer.apply(...handlers).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
    }
  }
  Module({})(AppModule);
  class ErrorFramesFilter {
    catch(exception: unknown, host: ArgumentsHost): void {
      const http = host.switchToHttp();
      onError(
        exception,
        http.getRequest<IncomingMessage>(),
        http.getResponse<ServerResponse>(),
        () => undefined,
      );
    }
  }
  Catch()(ErrorFramesFilter);
  const app = await NestFactory.create(AppModule, {
    bodyParser,
    rawBody,
    logger: false,
    abortOnError: false,
  });
  app.useGlobalFilters(new ErrorFramesFilter());
  await app.init();
  return app.getHttpServer() as Server;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}
