import { readFileSync } from 'node:fs';
import { defineConfig } from 'tsup';

/**
 * One entry per public subpath in package.json's `exports` (`./body` →
 * `src/body/index.ts`), so adding a middleware means adding its exports block.
 */
const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  exports: Record<string, unknown>;
};
const entry: Record<string, string> = {};
for (const subpath of Object.keys(pkg.exports)) {
  if (subpath === './package.json') continue;
  const name = subpath === '.' ? 'index' : `${subpath.slice(2)}/index`;
  entry[name] = `src/${name}.ts`;
}

export default defineConfig({
  entry,
  format: ['cjs', 'esm'],
  dts: true,
  tsconfig: 'tsconfig.build.json',
  target: 'node20',
  platform: 'node',
  splitting: true,
  sourcemap: true,
  clean: true,
  treeshake: true,
  shims: true,
});
