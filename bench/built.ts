/**
 * The benchmarks measure the built package, what users install, not the
 * TypeScript sources: `tsx` compiles sources with helpers (such as esbuild's
 * `keepNames`) that the published build does not have. `npm run bench` builds
 * first; run `npm run build` yourself before starting one benchmark directly.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Loads `dist/<subpath>/index.js`, typed as the source module it is built from.
 *
 * @example
 * const { rateLimit } = built<typeof import('../../src/rate-limit')>('rate-limit');
 */
export function built<T>(subpath: string): T {
  const file = join(__dirname, '..', 'dist', subpath, 'index.js');
  if (!existsSync(file))
    throw new Error(
      `${file} is missing: the benchmarks run the built package; npm run build first`,
    );
  return require(file) as T;
}
