import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../core/errors.js';
import { firstHeaderValue } from '../core/headers.js';
import { numberOption, readOptions } from '../core/options.js';
import { show } from '../core/units.js';

/**
 * One secret or several (rotation: any of them may have signed).
 *
 * @example
 * const secrets: Secrets = [process.env.NEW_SECRET!, process.env.OLD_SECRET!];
 */
export type Secrets = string | Buffer | readonly (string | Buffer)[];

function secretList(secrets: Secrets, option: string): readonly (string | Buffer)[] {
  const list = typeof secrets === 'string' || Buffer.isBuffer(secrets) ? [secrets] : secrets;
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    list.some((s) => (typeof s !== 'string' && !Buffer.isBuffer(s)) || s.length === 0)
  )
    throw new TypeError(`option ${option} must be a non-empty secret or array of secrets`);
  return list;
}

function hmacHex(secret: string | Buffer, ...parts: (string | Buffer)[]): Buffer {
  const h = createHmac('sha256', secret);
  for (const p of parts) h.update(p);
  return Buffer.from(h.digest('hex'), 'latin1');
}

/** Constant-time comparison of two hex strings (lengths compared first, which leaks nothing secret). */
function safeEqualHex(expected: Buffer, given: string): boolean {
  const g = Buffer.from(given, 'latin1');
  if (g.length !== expected.length) return false;
  return timingSafeEqual(expected, g);
}

/**
 * Checks a GitHub `X-Hub-Signature-256` header (`sha256=<hex>`) over the
 * exact body bytes, in constant time, against one or several secrets.
 *
 * @example
 * verifyGitHubSignature(Buffer.from('Hello, World!'),
 *   'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
 *   "It's a Secret to Everybody"); // true
 */
export function verifyGitHubSignature(
  body: Buffer | string,
  header: string | undefined,
  secrets: Secrets,
): boolean {
  const list = secretList(secrets, 'secret');
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const given = header.slice(7).toLowerCase();
  let ok = false;
  for (const secret of list) if (safeEqualHex(hmacHex(secret, body), given)) ok = true;
  return ok;
}

/**
 * Options for {@link verifyStripeSignature}.
 *
 * @example
 * verifyStripeSignature(buf, header, secret, { tolerance: 600 });
 */
export interface StripeSignatureOptions {
  /** Largest accepted age (and clock skew) of the timestamp, in seconds: a finite number >= 0. Default `300`. */
  tolerance?: number;
  /** The current time in Unix seconds (for tests): a finite number >= 0. Default `Date.now() / 1000`. */
  now?: number;
}

/**
 * Checks a Stripe-style `t=<unix>,v1=<hex>[,v1=<hex>…]` header: HMAC-SHA256
 * of `<t>.<body>`, constant-time, any `v1` against any secret, and the
 * timestamp within `tolerance` seconds of now.
 *
 * @example
 * if (!verifyStripeSignature(body.buffer(), req.headers['stripe-signature'], secrets)) res.statusCode = 400;
 */
export function verifyStripeSignature(
  body: Buffer | string,
  header: string | undefined,
  secrets: Secrets,
  options?: StripeSignatureOptions,
): boolean {
  const list = secretList(secrets, 'secret');
  const o = readOptions(options, 'verifyStripeSignature', ['tolerance', 'now']);
  const tolerance = toleranceOption(o.tolerance);
  const now = o.now === undefined ? Date.now() / 1000 : numberOption(o.now, 'now', 0, 0, false);
  return checkStripe(body, header, list, tolerance, now);
}

const DEFAULT_TOLERANCE = 300;

/** A finite, non-negative number of seconds: `NaN` or `Infinity` would turn replay protection off. */
function toleranceOption(value: unknown): number {
  if (value === undefined) return DEFAULT_TOLERANCE;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new TypeError(
      `option tolerance must be a non-negative finite number of seconds, got ${show(value)}`,
    );
  return value;
}

/** The Stripe check proper, on validated arguments. */
function checkStripe(
  body: Buffer | string,
  header: string | undefined,
  list: readonly (string | Buffer)[],
  tolerance: number,
  now: number,
): boolean {
  if (typeof header !== 'string') return false;
  let timestamp: string | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't') timestamp = value;
    else if (key === 'v1') signatures.push(value.toLowerCase());
  }
  if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp) || signatures.length === 0)
    return false;
  if (!(Math.abs(now - Number(timestamp)) <= tolerance)) return false;
  let ok = false;
  for (const secret of list) {
    const expected = hmacHex(secret, `${timestamp}.`, body);
    for (const given of signatures) if (safeEqualHex(expected, given)) ok = true;
  }
  return ok;
}

/**
 * A `verify` option for `rereadableBody()`.
 *
 * @example
 * const verify: VerifyFunction = (req, _res, buf) => { if (buf.length === 0) throw new Error('empty'); };
 */
export type VerifyFunction = (req: IncomingMessage, res: ServerResponse, buf: Buffer) => void;

function signatureError(message: string): HttpError {
  return new HttpError(403, 'entity.verify.failed', message);
}

/**
 * A ready `verify` option checking `X-Hub-Signature-256`; a missing or wrong
 * signature is a 403 `entity.verify.failed`.
 *
 * @example
 * app.post('/gh', rereadableBody({ verify: githubVerify([newSecret, oldSecret]) }), handler);
 */
export function githubVerify(secrets: Secrets): VerifyFunction {
  const list = secretList(secrets, 'secret');
  return function verifyGitHub(req: IncomingMessage, _res: ServerResponse, buf: Buffer): void {
    if (!verifyGitHubSignature(buf, firstHeaderValue(req.headers['x-hub-signature-256']), list))
      throw signatureError('X-Hub-Signature-256 does not match the body');
  };
}

/**
 * Options for {@link stripeVerify}.
 *
 * @example
 * stripeVerify(secret, { tolerance: 600, header: 'X-Signature' });
 */
export interface StripeVerifyOptions {
  /** Largest accepted age (and clock skew) of the timestamp, in seconds: a finite number >= 0. Default `300`. */
  tolerance?: number;
  /** The header carrying `t=…,v1=…`. Default `Stripe-Signature`. */
  header?: string;
}

/**
 * A ready `verify` option checking a Stripe-style signature header
 * (default `Stripe-Signature`); a missing, stale or wrong one is a 403.
 *
 * @example
 * app.post('/stripe', rereadableBody({ verify: stripeVerify(process.env.STRIPE_WHSEC!) }), handler);
 */
export function stripeVerify(secrets: Secrets, options?: StripeVerifyOptions): VerifyFunction {
  const list = secretList(secrets, 'secret');
  const o = readOptions(options, 'stripeVerify', ['tolerance', 'header']);
  const header = headerNameOption(o.header);
  const tolerance = toleranceOption(o.tolerance);
  return function verifyStripe(req: IncomingMessage, _res: ServerResponse, buf: Buffer): void {
    const given = firstHeaderValue(req.headers[header]);
    if (!checkStripe(buf, given, list, tolerance, Date.now() / 1000))
      throw signatureError(`${header} does not match the body or is outside the tolerance`);
  };
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

function headerNameOption(value: unknown): string {
  if (value === undefined) return 'stripe-signature';
  if (typeof value !== 'string' || !TOKEN.test(value))
    throw new TypeError(`option header must be an HTTP header name, got ${show(value)}`);
  return value.toLowerCase();
}
