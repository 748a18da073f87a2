import type { ServerResponse } from 'node:http';
import { ensureLocals, LOCALS } from '../core/locals.js';
import type { TeeLocals } from './record.js';

declare global {
  namespace Express {
    interface Locals {
      /** Live counters of `responseTee()` (streamguard). */
      tee?: TeeLocals;
    }
  }
}

/**
 * The live counters of the `responseTee()` teeing this response, typed, on
 * Express, Connect and plain `node:http` alike; `undefined` when no tee is
 * mounted before this handler.
 *
 * @example
 * const tee = teeOf(res);
 * if (tee?.truncated) console.warn('capture truncated');
 */
export function teeOf(res: ServerResponse): TeeLocals | undefined {
  return (ensureLocals(res)[LOCALS.tee] as TeeLocals | undefined) ?? undefined;
}
