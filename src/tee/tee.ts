import type { IncomingMessage, ServerResponse } from 'node:http';
import { CHANNELS, publisher, type TeeCaptureMessage } from '../core/instrument';
import { onResponseDone } from '../core/lifecycle';
import { ensureLocals, LOCALS } from '../core/locals';
import { callSafely, type Logger } from '../core/logger';
import type { NextFunction, RequestHandler } from '../core/types';
import { CaptureBudget } from './capture';
import { buildRecord } from './deliver';
import { type ResponseTeeOptions, readTeeConfig } from './options';
import type { TeeRecord } from './record';
import { TeeSession } from './session';
import { tapRequest, wrapResponse } from './wrap';
import './locals';

/** Marks a response with the factories already teeing it (so mounting one twice is harmless). */
const kTees = Symbol.for('streamguard.tee');
type Marked = ServerResponse & { [kTees]?: Set<object> };

/** How long after on-finished the tee waits for `'close'` before reporting anyway. */
const CLOSE_GRACE_MS = 1000;

const publishCapture = publisher<TeeCaptureMessage>(CHANNELS.teeCapture);

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
  /** Bytes held by in-flight captures (bounded by `maxInFlightBytes`). */
  inFlightBytes: number;
  /** Captures cut short by `maxInFlightBytes`. */
  budgetExceeded: number;
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
  const stats = { active: 0, records: 0, onFinishErrors: 0, budgetExceeded: 0 };
  const identity = {};
  const logger: Logger = {
    warn(message: string, error?: unknown): void {
      stats.onFinishErrors++;
      config.logger.warn(message, error);
    },
  };

  function deliver(session: TeeSession, unwrap: () => void): void {
    buildRecord(session, config).then(
      function handOver(record: TeeRecord): void {
        unwrap();
        stats.active--;
        stats.records++;
        if (record.budgetExceeded || record.request?.budgetExceeded === true)
          stats.budgetExceeded++;
        publishCapture({
          status: record.status,
          outcome: record.outcome,
          bytes: record.bytes,
          capturedBytes: record.capturedBytes,
          truncated: record.truncated,
          durationMs: record.timings.close ?? session.now(),
        });
        const onFinish = config.onFinish;
        if (onFinish !== undefined) {
          callSafely(logger, 'tee', 'onFinish', function callOnFinish() {
            return onFinish(record);
          });
        }
        session.response.release();
        session.requestTap?.release();
      },
      function buildFailed(error: unknown): void {
        unwrap();
        stats.active--;
        session.response.release();
        session.requestTap?.release();
        config.logger.warn('tee could not build a record', error);
      },
    );
  }

  const handler = function responseTeeMiddleware(
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
  ): void {
    const marked = res as Marked;
    const tees = marked[kTees] ?? new Set<object>();
    if (tees.has(identity)) {
      next();
      return;
    }
    tees.add(identity);
    marked[kTees] = tees;
    stats.active++;
    const session = new TeeSession(req, res, config, budget);
    const locals = ensureLocals(res);
    if (locals[LOCALS.tee] === undefined) locals[LOCALS.tee] = session;
    const unwrapResponse = wrapResponse(res, session);
    const untapRequest = session.requestTap === undefined ? undefined : tapRequest(req, session);
    let closed = false;
    let finished = false;
    let fallback: NodeJS.Timeout | undefined;

    function unwrap(): void {
      unwrapResponse();
      untapRequest?.();
      tees.delete(identity);
    }
    function schedule(): void {
      if (session.done) return;
      session.done = true;
      if (fallback !== undefined) clearTimeout(fallback);
      res.off('finish', onFinishEvent);
      res.off('close', onCloseEvent);
      setImmediate(deliver, session, unwrap);
    }
    function onFinishEvent(): void {
      session.endAt = session.now();
    }
    function onCloseEvent(): void {
      session.closeAt = session.now();
      closed = true;
      if (finished) schedule();
    }
    function onDone(): void {
      finished = true;
      if (closed) schedule();
      // 'close' follows (after a socket error it may take a few ticks); a response that never
      // emits it still gets its record.
      else fallback = setTimeout(schedule, CLOSE_GRACE_MS).unref();
    }
    res.once('finish', onFinishEvent);
    res.once('close', onCloseEvent);
    onResponseDone(res, onDone);
    next();
  };

  return Object.assign(handler, {
    stats(): TeeStats {
      return { ...stats, inFlightBytes: budget.inFlight };
    },
  });
}
