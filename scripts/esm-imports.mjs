#!/usr/bin/env node
/**
 * Codemod: give every relative import and export specifier in the TypeScript
 * sources its runtime extension, so that a copied `src/<name>/` + `src/core/`
 * compiles in an ESM project with `module`/`moduleResolution: nodenext`
 * (issue 16). `'./pool'` becomes `'./pool.js'`, `'../core'` (a folder)
 * becomes `'../core/index.js'`. TypeScript, tsup (esbuild), tsx and ts-jest
 * (through jest.config.js's moduleNameMapper) all map `.js` back to `.ts`.
 *
 *   node scripts/esm-imports.mjs            rewrite src/ in place
 *   node scripts/esm-imports.mjs --check    list what would change; exit 1 if anything would
 *   node scripts/esm-imports.mjs DIR...     other folders (the copy test runs it on a temp copy)
 *
 * It is idempotent: specifiers that already end in .js/.mjs/.cjs/.json are left alone.
 * It parses each file with the TypeScript compiler (no regular expressions), so
 * multi-line imports, `export * from`, `import type`, `import('./x').T` types and
 * dynamic `import()` are all found; comments and JSDoc examples are not touched.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

const require = createRequire(import.meta.url);
const ts = require('typescript');

const SOURCE = /\.(?:ts|tsx|mts|cts)$/;
const DECLARATION = /\.d\.(?:ts|mts|cts)$/;
const HAS_RUNTIME_EXTENSION = /\.(?:js|mjs|cjs|json)$/;

/** Every TypeScript source file under `dir`, declaration files excluded. */
function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return SOURCE.test(entry.name) && !DECLARATION.test(entry.name) ? [path] : [];
  });
}

/** The extensionful specifier for `specifier` as seen from `file`, or undefined if it needs none. */
export function withExtension(file, specifier) {
  if (!specifier.startsWith('./') && !specifier.startsWith('../')) return undefined;
  if (HAS_RUNTIME_EXTENSION.test(specifier)) return undefined;
  const target = resolve(dirname(file), specifier);
  for (const [ext, runtime] of [
    ['.ts', '.js'],
    ['.tsx', '.js'],
    ['.mts', '.mjs'],
    ['.cts', '.cjs'],
  ]) {
    if (existsSync(target + ext)) return specifier + runtime;
  }
  if (existsSync(target) && statSync(target).isDirectory()) {
    if (existsSync(join(target, 'index.ts')) || existsSync(join(target, 'index.tsx'))) {
      return `${specifier.replace(/\/$/, '')}/index.js`;
    }
  }
  throw new Error(`${file}: cannot resolve relative specifier '${specifier}'`);
}

/** The string literals in `source` that name a module: import/export declarations, import types, import() and require(). */
function moduleSpecifiers(source) {
  const found = [];
  function visit(node) {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push(node.moduleSpecifier);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      found.push(node.moduleReference.expression);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      found.push(node.argument.literal);
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require')) &&
      node.arguments.length === 1 &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      found.push(node.arguments[0]);
    } else if (
      ts.isModuleDeclaration(node) &&
      ts.isStringLiteral(node.name) &&
      node.name.text.startsWith('.')
    ) {
      found.push(node.name);
    }
    ts.forEachChild(node, visit);
  }
  visit(source);
  return found;
}

/** The rewritten text of `file` and the specifiers changed in it. */
export function rewrite(file, text) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const edits = [];
  for (const literal of moduleSpecifiers(source)) {
    const next = withExtension(file, literal.text);
    if (next === undefined) continue;
    // Keep the file's own quote character: replace only the text between the quotes.
    edits.push({
      start: literal.getStart(source) + 1,
      end: literal.getEnd() - 1,
      from: literal.text,
      to: next,
    });
  }
  let out = text;
  for (const edit of [...edits].sort((a, b) => b.start - a.start)) {
    out = out.slice(0, edit.start) + edit.to + out.slice(edit.end);
  }
  return { text: out, edits };
}

function main(argv) {
  const check = argv.includes('--check');
  const dirs = argv.filter((a) => !a.startsWith('--'));
  const roots =
    dirs.length > 0 ? dirs : [join(dirname(new URL(import.meta.url).pathname), '..', 'src')];
  let changedFiles = 0;
  let changedSpecifiers = 0;
  for (const root of roots) {
    for (const file of sourceFiles(resolve(root))) {
      const text = readFileSync(file, 'utf8');
      const result = rewrite(file, text);
      if (result.edits.length === 0) continue;
      changedFiles += 1;
      changedSpecifiers += result.edits.length;
      const name = relative(process.cwd(), file);
      if (check) {
        for (const edit of result.edits) console.log(`${name}: '${edit.from}' -> '${edit.to}'`);
      } else {
        writeFileSync(file, result.text);
      }
    }
  }
  const verb = check ? 'would change' : 'changed';
  console.log(`esm-imports: ${verb} ${changedSpecifiers} specifiers in ${changedFiles} files`);
  return check && changedFiles > 0 ? 1 : 0;
}

if (
  process.argv[1] !== undefined &&
  resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)
) {
  process.exitCode = main(process.argv.slice(2));
}
