import { execFileSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import ts from 'typescript';

/**
 * DESIGN.md promises that copying `src/<name>/` plus `src/core/` into an app
 * is enough to use one middleware alone (issue 16: in an ESM `nodenext`
 * project with `exactOptionalPropertyTypes` too). Each middleware folder is
 * copied into a fresh `"type": "module"` project whose tsconfig is the one
 * `tsc --init` (TypeScript 5.9) writes — `module: nodenext`, `strict`,
 * `exactOptionalPropertyTypes`, `noUncheckedIndexedAccess`,
 * `verbatimModuleSyntax` — compiled by TypeScript (declarations included), and the
 * emitted ESM is imported by Node.
 */
const repo = resolve(__dirname, '../..');
const codemod = join(repo, 'scripts/esm-imports.mjs');
const middlewares = readdirSync(join(repo, 'src'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && entry.name !== 'core')
  .map((entry) => entry.name)
  .sort();
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** What `tsc --init` writes in TypeScript 5.9, with Node's types and an output folder. */
const TSCONFIG = {
  compilerOptions: {
    module: 'nodenext',
    target: 'esnext',
    types: ['node'],
    rootDir: 'src',
    outDir: 'out',
    declaration: true,
    noUncheckedIndexedAccess: true,
    exactOptionalPropertyTypes: true,
    strict: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    noUncheckedSideEffectImports: true,
    moduleDetection: 'force',
    skipLibCheck: true,
  },
  include: ['src'],
};

/** A fresh ESM project holding a copy of `src/<name>/` and `src/core/`; the repo's node_modules stands in for the app's. */
function copyProject(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `streamguard-copy-${name}-`));
  dirs.push(dir);
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'app', private: true, type: 'module' }),
  );
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
  symlinkSync(join(repo, 'node_modules'), join(dir, 'node_modules'), 'dir');
  mkdirSync(join(dir, 'src'));
  for (const folder of ['core', name]) {
    cpSync(join(repo, 'src', folder), join(dir, 'src', folder), { recursive: true });
  }
  return dir;
}

function run(args: string[], cwd: string): string {
  try {
    return execFileSync(process.execPath, args, {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string };
    return `failed: ${e.stdout ?? ''}${e.stderr ?? String(error)}`;
  }
}

/**
 * One compiler host for every copy: the files under node_modules (@types/node, express's
 * types, TypeScript's libs) are parsed once and shared, so each copy costs only its own sources.
 */
const shared = new Map<string, ts.SourceFile | undefined>();
function compile(dir: string): string {
  const config = ts.parseJsonConfigFileContent(TSCONFIG, ts.sys, dir);
  const host = ts.createCompilerHost(config.options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = function cachedSourceFile(fileName, languageVersion, onError) {
    if (!fileName.includes('/node_modules/'))
      return getSourceFile(fileName, languageVersion, onError);
    if (!shared.has(fileName))
      shared.set(fileName, getSourceFile(fileName, languageVersion, onError));
    return shared.get(fileName);
  };
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options, host });
  const emitted = program.emit();
  const diagnostics = [
    ...config.errors,
    ...ts.getPreEmitDiagnostics(program),
    ...emitted.diagnostics,
  ];
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (name) => name,
    getCurrentDirectory: () => dir,
    getNewLine: () => '\n',
  });
}

/** tsc's diagnostics (empty when it compiles), then whether the emitted ESM entry loads in Node with exports. */
function compileAndImport(dir: string, name: string): { diagnostics: string; exports: string } {
  const diagnostics = compile(dir);
  const script = `const m = await import('./out/${name}/index.js'); console.log(Object.keys(m).length > 0 ? 'exports' : 'empty')`;
  const exports =
    diagnostics === '' ? run(['--input-type=module', '-e', script], dir).trim() : 'not compiled';
  return { diagnostics, exports };
}

test('there are middleware folders to copy', () => {
  expect(middlewares).toEqual(expect.arrayContaining(['body', 'sse', 'rate-limit', 'tee']));
});

// New code must write relative imports with their `.js` extension (`node scripts/esm-imports.mjs`
// adds any missing): this names the file that lacks one.
test('src/ needs no codemod: every relative specifier already has its extension', () => {
  expect(run([codemod, '--check', join(repo, 'src')], repo).trim()).toMatch(
    /^esm-imports: would change 0 specifiers in 0 files$/,
  );
});
test.each(middlewares)(
  'src/%s + src/core, copied as they are, compile and load in an ESM nodenext project',
  (name) => {
    expect(compileAndImport(copyProject(name), name)).toEqual({
      diagnostics: '',
      exports: 'exports',
    });
  },
  60_000,
);
