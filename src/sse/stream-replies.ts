/**
 * Readers for the Redis Stream replies a replay log gets back, in every
 * shape the supported clients produce for one raw command:
 *
 * - XRANGE: `[[id, fields], …]` everywhere.
 * - XREAD: `[[key, entries], …]` (ioredis 5, node-redis 4/5 over RESP2), a
 *   flat `[key, entries]` pair (ioredis 6), or an object or `Map`
 *   `{ key: entries }` (node-redis 5 over RESP3, node-redis 6); `null` when
 *   the block timed out.
 * - fields and XINFO STREAM: a flat `[k1, v1, k2, v2]` list (RESP2), or an
 *   object or `Map` (RESP3).
 *
 * Ids and values may be strings or Buffers. Anything else is an error, not
 * an empty answer: a reply this module cannot read must never look like
 * "no events".
 */
import type { LoggedEvent } from './replay-log.js';

/** A stream entry as read: its bare stream id, its fields, and the epoch it was written in (absent on entries written before epochs). */
export interface StreamEntry extends LoggedEvent {
  epoch?: string;
}

/**
 * A flat `[k1, v1, k2, v2]` list, a `Map` or an object, as an object.
 *
 * @example
 * fieldsOf(['data', 'x', 'event', 'tick']); // { data: 'x', event: 'tick' }
 */
export function fieldsOf(reply: unknown): Record<string, unknown> {
  if (reply instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of reply) out[String(k)] = v;
    return out;
  }
  if (Array.isArray(reply)) {
    const out: Record<string, unknown> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = reply[i + 1];
    return out;
  }
  if (typeof reply === 'object' && reply !== null) return reply as Record<string, unknown>;
  throw unreadable('a field list', reply);
}

/**
 * XRANGE's entries (`[[id, fields], …]`) as events.
 *
 * @example
 * entriesOf([['1-0', ['data', 'x']]]); // [{ id: '1-0', data: 'x' }]
 */
export function entriesOf(reply: unknown): StreamEntry[] {
  if (reply === null || reply === undefined) return [];
  if (!Array.isArray(reply)) throw unreadable('stream entries', reply);
  const events: StreamEntry[] = [];
  for (const entry of reply) events.push(entryOf(entry));
  return events;
}

/**
 * XREAD's reply for one stream, whatever the client's shape, as events.
 *
 * @example
 * xreadEntries({ 'sse:a': [['1-0', ['data', 'x']]] }, 'sse:a');
 */
export function xreadEntries(reply: unknown, key: string): StreamEntry[] {
  if (reply === null || reply === undefined) return [];
  if (reply instanceof Map) return entriesOf(reply.get(key) ?? onlyValue([...reply.values()]));
  if (Array.isArray(reply)) {
    if (reply.length === 0) return [];
    // ioredis 6: one stream as a flat [key, entries] pair.
    if (isText(reply[0])) return entriesOf(reply[1]);
    // [[key, entries], …]: one stream was asked for.
    const streams = reply.map(function streamOf(stream: unknown) {
      if (!Array.isArray(stream) || !isText(stream[0])) throw unreadable('an XREAD stream', stream);
      return stream as [unknown, unknown];
    });
    const mine = streams.find((s) => String(s[0]) === key) ?? onlyValue(streams);
    return entriesOf(mine[1]);
  }
  if (typeof reply === 'object') {
    const byKey = reply as Record<string, unknown>;
    return entriesOf(key in byKey ? byKey[key] : onlyValue(Object.values(byKey)));
  }
  throw unreadable('an XREAD reply', reply);
}

/**
 * XREAD's reply for any number of streams, whatever the client's shape, as
 * `[key, entries]` pairs: `[[key, entries], …]`, a flat `[k1, e1, k2, e2, …]`
 * list (ioredis 6 over RESP3), or an object or `Map` `{ key: entries }`.
 *
 * @example
 * xreadStreams([['sse:a', [['1-0', ['data', 'x']]]]]); // [['sse:a', [{ id: '1-0', data: 'x' }]]]
 */
export function xreadStreams(reply: unknown): [string, StreamEntry[]][] {
  if (reply === null || reply === undefined) return [];
  const out: [string, StreamEntry[]][] = [];
  if (reply instanceof Map) {
    for (const [key, entries] of reply) out.push([String(key), entriesOf(entries)]);
    return out;
  }
  if (Array.isArray(reply)) {
    if (reply.length === 0) return out;
    if (isText(reply[0])) {
      if (reply.length % 2 !== 0) throw unreadable('an XREAD key/entries list', reply);
      for (let i = 0; i < reply.length; i += 2) {
        if (!isText(reply[i])) throw unreadable('an XREAD stream key', reply[i]);
        out.push([String(reply[i]), entriesOf(reply[i + 1])]);
      }
      return out;
    }
    for (const stream of reply) {
      if (!Array.isArray(stream) || !isText(stream[0])) throw unreadable('an XREAD stream', stream);
      out.push([String(stream[0]), entriesOf(stream[1])]);
    }
    return out;
  }
  if (typeof reply === 'object') {
    for (const [key, entries] of Object.entries(reply as Record<string, unknown>))
      out.push([key, entriesOf(entries)]);
    return out;
  }
  throw unreadable('an XREAD reply', reply);
}

function entryOf(entry: unknown): StreamEntry {
  let id: unknown;
  let fields: unknown;
  if (Array.isArray(entry)) [id, fields] = entry;
  else if (typeof entry === 'object' && entry !== null && 'id' in entry) {
    // A client's typed form: { id, message }.
    ({ id, message: fields } = entry as { id: unknown; message: unknown });
  }
  if (!isText(id)) throw unreadable('a stream entry', entry);
  const f = fieldsOf(fields);
  const event: StreamEntry = { id: String(id), data: f.data === undefined ? '' : String(f.data) };
  if (f.event !== undefined) event.event = String(f.event);
  if (f.epoch !== undefined) event.epoch = String(f.epoch);
  return event;
}

function onlyValue<T>(values: T[]): T {
  if (values.length !== 1) throw unreadable('a one-stream XREAD reply', values);
  return values[0]!;
}

function isText(value: unknown): value is string | Buffer {
  return typeof value === 'string' || Buffer.isBuffer(value);
}

function unreadable(what: string, reply: unknown): Error {
  let shown: string;
  try {
    shown = JSON.stringify(reply)?.slice(0, 120) ?? String(reply);
  } catch {
    shown = Object.prototype.toString.call(reply);
  }
  return new Error(`unexpected Redis reply: expected ${what}, got ${shown}`);
}
