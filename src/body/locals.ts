import type { ServerResponse } from 'node:http';
import { ensureLocals, LOCALS } from '../core/locals.js';
import type { RereadableBody } from './rereadable.js';

declare global {
  namespace Express {
    interface Locals {
      /** The request body read by `rereadableBody()`. */
      body?: RereadableBody;
    }
  }
}

/**
 * The {@link RereadableBody} `rereadableBody()` read for this request,
 * typed, on Express, Connect and plain `node:http` alike; `undefined` when
 * it did not read one (not mounted, or the `type` option did not match).
 *
 * @example
 * const body = bodyOf(res);
 * if (body !== undefined) console.log(body.length, body.text());
 */
export function bodyOf(res: ServerResponse): RereadableBody | undefined {
  return (ensureLocals(res)[LOCALS.body] as RereadableBody | undefined) ?? undefined;
}
