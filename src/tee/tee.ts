import diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { holdFinishWork } from '../core/finish-work.js';
import { CHANNELS, publisher, type TeeCaptureMessage } from '../core/instrument.js';
import { onResponseDone } from '../core/lifecycle.js';
import { ensureLocals, LOCALS } from '../core/locals.js';
import { callSafely, type Logger } from '../core/logger.js';
import { serverOf } from '../core/shutdown-hooks.js';
import type { NextFunction, RequestHandler } from '../core/types.js';
import { CaptureBudget } from './capture.js';
import { addDecoded, buildRecord, needsDecoding, outcomeOf, redactRecord } from './deliver.js';
import { type ResponseTeeOptions, readTeeConfig } from './options.js';
import type { TeeRecord } from './record.js';
import { TeeSession } from './session.js';
import { badSink, isSinkStream, SinkTap } from './sink.js';
import { createWrappers, type SessionMap, tapRequest, wrapResponse } from './wrap.js';
import './locals.js';

const publishCapture = publisher<TeeCaptureMessage>(CHANNELS.teeCapture);
const captureChannel = diagnostics.channel(CHANNELS.teeCapture);

/**
 * Counters of one `responseTee()` factory, across its requests.
 *
 * @example
 * const { inFlightBytes, onFinishErrors } = tee.stats();
 */
export interface TeeStats {
  /** Responses currently teed (not yet handed to onFinish). */
  active: number;
  /** Records delivered. */
  records: number;
  /** onFinish calls that threw or rejected. */
  onFinishErrors: number;
  /** Bytes retained by captures and by records whose onFinish has not settled (bounded by `maxInFlightBytes`). */
  inFlightBytes: number;
  /** onFinish calls whose promise has not settled yet (their records still hold budget). */
  pending: number;
  /** Captures cut short by `maxInFlightBytes`. */
  budgetExceeded: number;
  /** Responses whose record `skip` dropped. */
  skipped: number;
  /** `skip`, `redactBody` and `sink` failures (each was logged). */
  callbackErrors: number;
}

/**
 * The middleware `responseTee()` returns, with its factory-wide counters.
 *
 * @example
 * const tee: ResponseTee = responseTee({ onFinish });
 * app.use(tee);
 */
export type ResponseTee = RequestHandler & { stats(): TeeStats };

/**
 * Captures exactly what a response sent — status, headers as flushed
 * (redacted), a bounded copy of the body, byte counts, timings and how it
 * ended — without changing or slowing it, and hands the record to
 * `onFinish` once, after the response closed. Mount it before compression to
 * capture the wire bytes, after it to capture the uncompressed body.
 *
 * @example
 * import express from 'express';
 * import { responseTee } from 'streamguard/tee';
 *
 * const app = express();
 * app.use(responseTee({
 *   maxBytes: '64kb',
 *   hash: 'sha256',
 *   onFinish(record) {
 *     console.log(record.status, record.bytes, record.outcome, record.digest);
 *   },
 * }));
 */
export function responseTee(options?: ResponseTeeOptions): ResponseTee {
  const config = readTeeConfig(options);
  const budget = new CaptureBudget(config.maxInFlightBytes);
  const stats = {
    active: 0,
    records: 0,
    onFinishErrors: 0,
    budgetExceeded: 0,
    pending: 0,
    skipped: 0,
    callbackErrors: 0,
  };
  const sessions: SessionMap = new WeakMap();
  const wrappers = createWrappers(sessions);
  const logger: Logger = {
    warn(message: string, error?: unknown): void {
      stats.onFinishErrors++;
      config.logger.warn(message, error);
    },
  };

  function reportRedactError(error: unknown): void {
    stats.callbackErrors++;
    callSafely(config.logger, 'tee', 'redactBody', function rethrow() {
      throw error;
    });
  }

  function reportSinkError(error: unknown): void {
    stats.callbackErrors++;
    callSafely(config.logger, 'tee', 'sink', function rethrow() {
      throw error;
    });
  }

  /** The sink the `sink` option gives for this request, if any (a throw or a bad value is logged). */
  function openSink(req: IncomingMessage, res: ServerResponse): SinkTap | undefined {
    const sink = config.sink;
    if (sink === undefined) return undefined;
    let stream: unknown;
    try {
      stream = sink(req, res);
    } catch (error) {
      reportSinkError(error);
      return undefined;
    }
    if (stream === undefined || stream === null) return undefined;
    if (!isSinkStream(stream)) {
      reportSinkError(badSink(stream));
      return undefined;
    }
    return new SinkTap(stream, config.sinkMaxQueue, budget, reportSinkError);
  }

  /** `skip(req, res)` once the response closed; a throw is logged and the record kept. */
  function skipped(session: TeeSession): boolean {
    const skip = config.skip;
    if (skip === undefined) return false;
    try {
      return Boolean(skip(session.req, session.res));
    } catch (error) {
      stats.callbackErrors++;
      callSafely(config.logger, 'tee', 'skip', function rethrow() {
        throw error;
      });
      return false;
    }
  }

  function handOver(session: TeeSession, record: TeeRecord): void {
    try {
      redactRecord(record, config, reportRedactError);
    } catch (error) {
      // Never hand over bytes that should have been redacted.
      buildFailed(session, error);
      return;
    }
    session.unwrap();
    stats.active--;
    stats.records++;
    if (record.budgetExceeded || record.request?.budgetExceeded === true) stats.budgetExceeded++;
    publishCapture({
      status: record.status,
      outcome: record.outcome,
      bytes: record.bytes,
      capturedBytes: record.capturedBytes,
      truncated: record.truncated,
      durationMs: record.timings.close ?? session.now(),
    });
    const onFinish = config.onFinish;
    if (onFinish === undefined) {
      settle(session);
      return;
    }
    let result: unknown;
    callSafely(logger, 'tee', 'onFinish', function callOnFinish() {
      result = onFinish(record);
      return result;
    });
    // The record's bytes stay charged to the budget until onFinish is done with them: an async
    // onFinish (a database write) holds them until its promise settles.
    if (isThenable(result)) {
      stats.pending++;
      result.then(
        function onFinishSettled() {
          stats.pending--;
          settle(session);
        },
        function onFinishRejected() {
          stats.pending--;
          settle(session);
        },
      );
    } else settle(session);
  }

  /** The record is dropped: its bytes go back to the budget and its finish work is done. */
  function settle(session: TeeSession): void {
    session.response.release();
    session.requestTap?.release();
    session.releaseExtra(budget);
    session.finishWork();
  }

  function buildFailed(session: TeeSession, error: unknown): void {
    session.unwrap();
    stats.active--;
    settle(session);
    config.logger.warn('tee could not build a record', error);
  }

  /** Runs a tick after the response closed: builds the record (decoding if asked) and hands it over. */
  function deliver(session: TeeSession): void {
    if (config.onFinish === undefined && !captureChannel.hasSubscribers) {
      // Nobody will read a record: only clean up.
      session.unwrap();
      stats.active--;
      stats.records++;
      settle(session);
      return;
    }
    if (skipped(session)) {
      session.unwrap();
      stats.active--;
      stats.skipped++;
      settle(session);
      return;
    }
    let record: TeeRecord;
    try {
      record = buildRecord(session, config);
    } catch (error) {
      buildFailed(session, error);
      return;
    }
    if (!needsDecoding(record, config)) {
      handOver(session, record);
      return;
    }
    addDecoded(record, config, budget, session).then(
      function decoded(): void {
        handOver(session, record);
      },
      function decodeFailed(error: unknown): void {
        buildFailed(session, error);
      },
    );
  }

  const handler = function responseTeeMiddleware(
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
  ): void {
    if (sessions.has(res)) {
      // This factory already tees this response (mounted twice): one record is enough.
      next();
      return;
    }
    stats.active++;
    const session = new TeeSession(req, res, config, budget, sessions);
    const locals = ensureLocals(res);
    if (locals[LOCALS.tee] === undefined) locals[LOCALS.tee] = session;
    session.sinkTap = openSink(req, res);
    wrapResponse(res, session, wrappers, sessions);
    if (session.requestTap !== undefined) session.untapRequest = tapRequest(req, session);
    // Called from the response's 'close' (after it finished, or the connection was lost); the
    // record is built on a later turn of the event loop, off the response's path.
    function teeDone(): void {
      // shutdown(server) waits (bounded) for this record's onFinish before it closes the batchers.
      session.finishWork = holdFinishWork(serverOf(req.socket));
      session.closeAt = session.now();
      session.done = true;
      session.sinkTap?.finish(outcomeOf(session) === 'completed');
      setImmediate(deliver, session);
    }
    onResponseDone(res, teeDone);
    next();
  };

  return Object.assign(handler, {
    stats(): TeeStats {
      return { ...stats, inFlightBytes: budget.inFlight };
    },
  });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as PromiseLike<unknown>).then === 'function'
  );
}
