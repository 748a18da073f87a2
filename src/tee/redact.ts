import { show } from '../core/units.js';
import { REDACTED } from './headers.js';

/**
 * What body redaction did to one capture: `none` (the bytes as captured),
 * `applied` (redacted copy), `withheld` (the capture could not be redacted
 * safely, so its bytes were dropped: the body is empty).
 *
 * @example
 * if (record.redaction === 'withheld') metrics.unredactable.inc();
 */
export type Redaction = 'none' | 'applied' | 'withheld';

/**
 * What a `redactBody` function is told about the bytes it gets.
 *
 * @example
 * const redactBody: BodyRedactor = (bytes, { side }) => (side === 'request' ? '' : bytes);
 */
export interface RedactContext {
  /** Which side of the exchange. */
  side: 'request' | 'response';
  /** The head (`body`), the `tail`, or the response's `decoded` copy. */
  part: 'body' | 'tail' | 'decoded';
  /** The side's `Content-Type`, as sent. */
  contentType: string | undefined;
  /** Whether bytes of this side were dropped (head/tail bounds): the bytes may be a fragment. */
  truncated: boolean;
}

/**
 * A body redaction function: gets captured bytes, returns what the record
 * keeps instead. It runs after the response closed, off the hot path.
 *
 * @example
 * responseTee({ redactBody: (bytes) => bytes.toString().replace(/\d{16}/g, '[REDACTED]') });
 */
export type BodyRedactor = (bytes: Buffer, context: RedactContext) => Buffer | string;

/**
 * The normalised `redactBody` option.
 *
 * @example
 * const config = redactBodyOption(['password', 'card.number']);
 */
export type RedactBodyConfig =
  | {
      readonly kind: 'paths';
      readonly paths: readonly (readonly string[])[];
      readonly names: ReadonlySet<string>;
    }
  | { readonly kind: 'function'; readonly redact: BodyRedactor };

/**
 * Validates `redactBody`: an array of dotted JSON paths (`'card.number'`,
 * `*` matching any key) or a {@link BodyRedactor}.
 *
 * @example
 * redactBodyOption(['password']); // { kind: 'paths', ... }
 */
export function redactBodyOption(value: unknown): RedactBodyConfig | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'function')
    return Object.freeze({ kind: 'function', redact: value as BodyRedactor });
  const valid =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every(
      (p) => typeof p === 'string' && p !== '' && p.split('.').every((segment) => segment !== ''),
    );
  if (!valid) {
    throw new TypeError(
      `option redactBody must be a function or a non-empty array of dotted JSON paths such as 'card.number', got ${show(value)}`,
    );
  }
  const paths = (value as string[]).map((p) => Object.freeze(p.split('.')));
  const names = new Set<string>();
  for (const p of value as string[]) {
    names.add(p);
    names.add(bracketed(p));
  }
  return Object.freeze({ kind: 'paths', paths: Object.freeze(paths), names });
}

/** `card.number` as a form field name: `card[number]`. */
function bracketed(path: string): string {
  const [first, ...rest] = path.split('.');
  return `${first}${rest.map((s) => `[${s}]`).join('')}`;
}

/**
 * The result of redacting one side's capture.
 *
 * @example
 * const { body, tail, redaction } = redactCapture(input, config, report);
 */
export interface RedactedCapture {
  body: Buffer;
  tail: Buffer;
  redaction: Redaction;
}

/**
 * One side's capture, as {@link redactCapture} needs it.
 *
 * @example
 * const input: RedactInput = { body, tail, side: 'request', contentType, coding: undefined, truncated: false };
 */
export interface RedactInput {
  body: Buffer;
  tail: Buffer;
  side: 'request' | 'response';
  part: 'body' | 'decoded';
  contentType: string | undefined;
  /** The content coding of the bytes (`identity` or none when they are plain). */
  coding: string | undefined;
  truncated: boolean;
}

const EMPTY = Buffer.alloc(0);
const WITHHELD: RedactedCapture = Object.freeze({
  body: EMPTY,
  tail: EMPTY,
  redaction: 'withheld',
});

/**
 * Redacts one capture. With paths: JSON (and `+json`), NDJSON and
 * form-urlencoded bodies are parsed and every matching value replaced by
 * `[REDACTED]` (a path crossing an array applies to each element); such a
 * body that cannot be parsed whole (truncated, compressed, invalid) is
 * withheld; other types are left as captured. With a function: it gets the
 * head and the tail; if it throws or returns something else than a Buffer
 * or string, the capture is withheld and the error reported.
 *
 * @example
 * redactCapture({ body, tail, side: 'request', part: 'body', contentType: 'application/json', coding: undefined, truncated: false }, config, report);
 */
export function redactCapture(
  input: RedactInput,
  config: RedactBodyConfig,
  report: (error: unknown) => void,
): RedactedCapture {
  const { body, tail } = input;
  if (body.length === 0 && tail.length === 0) return { body, tail, redaction: 'none' };
  if (config.kind === 'function') {
    try {
      const head = callRedactor(config.redact, body, input, 'body');
      const rest = tail.length === 0 ? tail : callRedactor(config.redact, tail, input, 'tail');
      return { body: head, tail: rest, redaction: 'applied' };
    } catch (error) {
      report(error);
      return WITHHELD;
    }
  }
  const format = structuredFormat(input.contentType);
  if (format === undefined) return { body, tail, redaction: 'none' };
  const plain = input.coding === undefined || input.coding === 'identity';
  if (!plain || input.truncated || tail.length > 0) return WITHHELD;
  const text = body.toString('utf8');
  const redacted =
    format === 'form'
      ? redactForm(text, config.names)
      : format === 'ndjson'
        ? redactLines(text, config.paths)
        : redactJsonText(text, config.paths);
  if (redacted === undefined) return WITHHELD;
  if (redacted === text) return { body, tail, redaction: 'none' };
  return { body: Buffer.from(redacted, 'utf8'), tail, redaction: 'applied' };
}

function callRedactor(
  redact: BodyRedactor,
  bytes: Buffer,
  input: RedactInput,
  part: 'body' | 'tail',
): Buffer {
  const result: unknown = redact(bytes, {
    side: input.side,
    part: input.part === 'decoded' ? 'decoded' : part,
    contentType: input.contentType,
    truncated: input.truncated,
  });
  if (Buffer.isBuffer(result)) return result;
  if (typeof result === 'string') return Buffer.from(result, 'utf8');
  throw new TypeError(`redactBody must return a Buffer or a string, got ${show(result)}`);
}

function structuredFormat(contentType: string | undefined): 'json' | 'ndjson' | 'form' | undefined {
  if (contentType === undefined) return undefined;
  const semi = contentType.indexOf(';');
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (type === 'application/x-www-form-urlencoded') return 'form';
  if (
    type === 'application/x-ndjson' ||
    type === 'application/ndjson' ||
    type === 'application/jsonl'
  )
    return 'ndjson';
  if (type === 'application/json' || type.endsWith('+json')) return 'json';
  return undefined;
}

/** The redacted JSON text, the same text when nothing matched, undefined when it does not parse. */
function redactJsonText(text: string, paths: readonly (readonly string[])[]): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  let changed = false;
  for (const path of paths) if (redactPath(value, path, 0)) changed = true;
  return changed ? JSON.stringify(value) : text;
}

function redactLines(text: string, paths: readonly (readonly string[])[]): string | undefined {
  const lines = text.split('\n');
  let changed = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const out = redactJsonText(line, paths);
    if (out === undefined) return undefined;
    if (out !== line) {
      lines[i] = out;
      changed = true;
    }
  }
  return changed ? lines.join('\n') : text;
}

function redactForm(text: string, names: ReadonlySet<string>): string {
  const params = new URLSearchParams(text);
  let changed = false;
  for (const [key, value] of params) {
    if (names.has(key) && value !== REDACTED) changed = true;
  }
  if (!changed) return text;
  const out = new URLSearchParams();
  for (const [key, value] of params) out.append(key, names.has(key) ? REDACTED : value);
  return out.toString();
}

/** Replaces the values at `path` (from `index` on) inside `node`; whether anything was replaced. */
function redactPath(node: unknown, path: readonly string[], index: number): boolean {
  if (Array.isArray(node)) {
    let changed = false;
    for (const item of node) if (redactPath(item, path, index)) changed = true;
    return changed;
  }
  if (typeof node !== 'object' || node === null) return false;
  const record = node as Record<string, unknown>;
  const segment = path[index]!;
  const keys =
    segment === '*' ? Object.keys(record) : Object.hasOwn(record, segment) ? [segment] : [];
  let changed = false;
  for (const key of keys) {
    if (index === path.length - 1) {
      if (record[key] !== REDACTED) {
        record[key] = REDACTED;
        changed = true;
      }
    } else if (redactPath(record[key], path, index + 1)) changed = true;
  }
  return changed;
}
