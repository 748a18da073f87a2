import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PUBLIC_API, ROOT_ONLY } from './public-api';

/**
 * Packs the package as npm publishes it, installs the tarball into an empty
 * project, and loads every subpath from CommonJS and ESM, then type-checks
 * consumer files against the installed types.
 */
const repo = resolve(__dirname, '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let dir = '';
let tarball = '';

function run(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, npm_config_loglevel: 'error' },
  });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'streamguard-pack-'));
  run(npm, ['run', 'build'], repo);
  const packed = JSON.parse(
    run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], repo),
  ) as { filename: string }[];
  tarball = join(dir, packed[0]!.filename);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, version: '1.0.0' }),
  );
  run(
    npm,
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', tarball],
    dir,
  );
}, 180_000);

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

const subpaths = Object.keys(PUBLIC_API);
const allNames = [...new Set([...subpaths.flatMap((s) => PUBLIC_API[s]!), ...ROOT_ONLY])].sort();

function namesFrom(kind: 'cjs' | 'esm', specifier: string): string[] {
  const script =
    kind === 'cjs'
      ? `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(specifier)})).sort()))`
      : `import(${JSON.stringify(specifier)}).then((m) => console.log(JSON.stringify(Object.keys(m).filter((k) => k !== 'default').sort())))`;
  return JSON.parse(run(process.execPath, ['-e', script], dir)) as string[];
}

describe.each(['cjs', 'esm'] as const)('the packed package from %s', (kind) => {
  test('the root exports every public name', () => {
    expect(namesFrom(kind, 'streamguard')).toEqual(allNames);
  });
  test.each(subpaths)('%s exports its names', (subpath) => {
    expect(namesFrom(kind, subpath)).toEqual([...PUBLIC_API[subpath]!].sort());
  });
});

test('the root and a subpath share one class identity (instanceof works across them)', () => {
  const script = `const a = require('streamguard'); const b = require('streamguard/errors'); console.log(new b.HttpError(400, 'x.y') instanceof a.HttpError)`;
  expect(run(process.execPath, ['-e', script], dir).trim()).toBe('true');
});

test.each(['cjs', 'esm'] as const)(
  'without prom-client installed, everything loads and metrics() says what is missing (%s)',
  (kind) => {
    const script =
      kind === 'cjs'
        ? `const s = require('streamguard'); try { s.metrics(); } catch (e) { console.log(e.message); }`
        : `import('streamguard/metrics').then((s) => { try { s.metrics(); } catch (e) { console.log(e.message); } })`;
    expect(run(process.execPath, ['-e', script], dir).trim()).toBe(
      'metrics() needs the optional peer dependency prom-client: npm install prom-client',
    );
  },
);

/** Runs a checker on the tarball; resolves to its exit code and everything it printed. */
function check(bin: string, args: string[]): { code: number; output: string } {
  try {
    return {
      code: 0,
      output: run(process.execPath, [join(repo, 'node_modules', bin), ...args], dir),
    };
  } catch (error) {
    const e = error as { status?: number; stdout?: string; stderr?: string };
    return { code: e.status ?? 1, output: `${e.stdout ?? ''}${e.stderr ?? String(error)}` };
  }
}

test('publint finds nothing in the tarball, not even a suggestion', () => {
  const { code, output } = check('publint/src/cli.js', ['run', tarball, '--strict']);
  expect({ code, allGood: output.includes('All good!'), output }).toEqual({
    code: 0,
    allGood: true,
    output: expect.any(String),
  });
});

test('are-the-types-wrong finds no problem for any entry point under node10, node16 (CJS and ESM) and bundler', () => {
  const { code, output } = check('@arethetypeswrong/cli/dist/index.js', [
    tarball,
    '--format',
    'json',
    '--profile',
    'strict',
  ]);
  const report = JSON.parse(output) as {
    problems?: Record<string, unknown[]>;
    analysis: { entrypoints: Record<string, unknown> };
  };
  expect(Object.keys(report.analysis.entrypoints).sort()).toEqual(
    ['.', ...subpaths.map((s) => `.${s.slice('streamguard'.length)}`), './package.json'].sort(),
  );
  expect({ code, problems: report.problems ?? {} }).toEqual({ code: 0, problems: {} });
});

test('the tarball holds the build, the README and the CHANGELOG, and no sources or tests', () => {
  const files = JSON.parse(
    run(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], repo),
  )[0].files.map((f: { path: string }) => f.path) as string[];
  expect(files).toEqual(
    expect.arrayContaining([
      'README.md',
      'CHANGELOG.md',
      'package.json',
      'dist/index.js',
      'dist/index.mjs',
      'dist/index.d.ts',
      'dist/index.d.mts',
    ]),
  );
  expect(files.filter((f) => f.startsWith('src/') || f.startsWith('__tests__/'))).toEqual([]);
});

test.each([
  // node10 ("moduleResolution": "node", classic `nest new`) reads subpaths through typesVersions.
  ['consumer.cts', 'node10'],
  ['consumer.cts', 'node16'],
  ['consumer.mts', 'node16'],
  ['consumer.mts', 'bundler'],
])('%s type-checks against the installed types (moduleResolution %s)', (file, resolution) => {
  const source = readFileSync(join(__dirname, 'fixtures', file), 'utf8');
  writeFileSync(join(dir, file), source);
  const tsconfig = {
    compilerOptions: {
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      module: resolution === 'node16' ? 'node16' : resolution === 'node10' ? 'commonjs' : 'esnext',
      moduleResolution: resolution,
      esModuleInterop: true,
      types: ['node'],
      typeRoots: [join(repo, 'node_modules/@types')],
      paths: { express: [join(repo, 'node_modules/@types/express/index.d.ts')] },
    },
    files: [file],
  };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
  const tsc = join(repo, 'node_modules/typescript/bin/tsc');
  let output = '';
  try {
    run(process.execPath, [tsc, '-p', 'tsconfig.json'], dir);
  } catch (error) {
    output = String((error as { stdout?: string }).stdout ?? error);
  }
  expect(output).toBe('');
});
