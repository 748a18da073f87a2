import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `npm run bench [name…]`: runs each `bench/<name>/index.ts` one after the
 * other (never in parallel: the machines have two cores), each printing its
 * own table of ratios against the peers. `BENCH_SECONDS` sets the duration
 * per case where a benchmark supports it.
 */
const root = __dirname;
const wanted = process.argv.slice(2);
const all = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(root, d.name, 'index.ts')))
  .map((d) => d.name)
  .sort();
const chosen = wanted.length > 0 ? all.filter((name) => wanted.includes(name)) : all;
if (chosen.length === 0) {
  console.log(
    wanted.length > 0
      ? `no benchmark named ${wanted.join(', ')}; have: ${all.join(', ')}`
      : 'no benchmarks yet',
  );
}
let failed = 0;
// The benchmarks load the built package (see bench/built.ts).
if (chosen.length > 0 && process.env.BENCH_NO_BUILD === undefined) {
  console.log('building the package first (BENCH_NO_BUILD=1 skips this)');
  const build = spawnSync('npm', ['run', '--silent', 'build'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (build.status !== 0) {
    console.error('npm run build failed');
    process.exit(1);
  }
}
for (const name of chosen) {
  console.log(`\n=== bench/${name} ===`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(root, name, 'index.ts')], {
    stdio: 'inherit',
  });
  if (result.status !== 0) failed++;
}
process.exitCode = failed > 0 ? 1 : 0;
