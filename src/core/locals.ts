import type { ServerResponse } from 'node:http';

/**
 * The `res.locals` key each middleware keeps its per-request state under.
 * Each middleware folder types its own key by declaration merging of
 * Express's `Locals` (see e.g. `src/body/locals.ts`).
 *
 * @example
 * const body = res.locals[LOCALS.body];
 */
export const LOCALS = {
  body: 'body',
  tee: 'tee',
  sse: 'sse',
  ndjson: 'ndjson',
  rateLimit: 'rateLimit',
} as const;

/** A response with the `locals` bag Express provides and Connect/node:http lack. */
export type ResponseWithLocals = ServerResponse & { locals: Record<string, unknown> };

/**
 * Returns `res.locals`, creating it (a prototype-less object, as Express 5
 * does) when the framework did not: Connect and plain `node:http`.
 *
 * @example
 * ensureLocals(res).rateLimit = decision;
 */
export function ensureLocals(res: ServerResponse): Record<string, unknown> {
  const r = res as ServerResponse & { locals?: Record<string, unknown> };
  // One read: on Express every response has a hidden class of its own, so
  // each property read is an uncached lookup.
  const locals = r.locals;
  if (typeof locals === 'object' && locals !== null) return locals;
  const created = Object.create(null) as Record<string, unknown>;
  r.locals = created;
  return created;
}
