import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(__dirname, '..', '..');

/**
 * Compile-only checks: the fixtures in ./fixtures use the public API the way
 * users write it (Express, Connect, node:http) and assert its types with
 * `Equal<>` and `@ts-expect-error`. They must compile under strict tsc with
 * no cast; a type that regresses (a union on res.locals.sse, an accessor that
 * returns `unknown`) fails here with tsc's diagnostics.
 */
test('the type fixtures compile with strict tsc and no cast', async () => {
  const tsc = require.resolve('typescript/bin/tsc');
  const result = await run(process.execPath, [tsc, '-p', join(__dirname, 'tsconfig.json')], {
    cwd: root,
  }).then(
    (r) => ({ code: 0, out: r.stdout + r.stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({
      code: err.code ?? 1,
      out: `${err.stdout ?? ''}${err.stderr ?? ''}`,
    }),
  );
  expect(result.out).toBe('');
  expect(result.code).toBe(0);
}, 120_000);
