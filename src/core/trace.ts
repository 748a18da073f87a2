import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { firstHeaderValue } from './headers.js';

const kTraceId = Symbol('streamguard.traceId');
type Traced = IncomingMessage & { [kTraceId]?: string };

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;
const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_PARENT = '0'.repeat(16);

/**
 * The request's trace id, the same for every caller during a request: the
 * trace-id of a valid W3C `traceparent`, else a printable `x-request-id` of at
 * most 128 characters, else a freshly generated 32-hex-digit id.
 *
 * @example
 * res.setHeader('x-trace-id', traceId(req));
 */
export function traceId(req: IncomingMessage): string {
  const traced = req as Traced;
  const cached = traced[kTraceId];
  if (cached !== undefined) return cached;
  const id =
    fromTraceparent(req.headers.traceparent) ??
    fromRequestId(req.headers['x-request-id']) ??
    generate();
  traced[kTraceId] = id;
  return id;
}

function fromTraceparent(header: string | string[] | undefined): string | undefined {
  const value = firstHeaderValue(header);
  if (value === undefined) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (m === null) return undefined;
  const [, version, trace, parent] = m;
  if (version === 'ff' || trace === ZERO_TRACE || parent === ZERO_PARENT) return undefined;
  if (version === '00' && value.trim().length !== 55) return undefined;
  return trace;
}

function fromRequestId(header: string | string[] | undefined): string | undefined {
  const value = firstHeaderValue(header);
  return value !== undefined && REQUEST_ID.test(value) ? value : undefined;
}

function generate(): string {
  return randomUUID().replaceAll('-', '');
}
