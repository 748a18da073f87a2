/**
 * Every ```ts / ```typescript block in README.md and docs/**\/*.md is a
 * complete module a user can copy: each is written to a temp dir as its own
 * file and the lot is compiled with the TypeScript compiler API (strict,
 * noEmit), `streamguard` and `streamguard/*` mapped to src/. A block marked
 * `<!-- snippet: fragment -->` on the line before is left out (keep those few).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

const ROOT = join(__dirname, '..', '..');
const FRAGMENT = '<!-- snippet: fragment -->';
const OPEN = /^(\s*)```(?:ts|typescript)\s*$/;
const CLOSE = /^\s*```\s*$/;

interface Snippet {
  /** The markdown file, relative to the repository root. */
  file: string;
  /** 1-based line in `file` of the snippet's first code line. */
  line: number;
  code: string;
  fragment: boolean;
}

function markdownFiles(): string[] {
  function walk(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap(function entry(e) {
      const path = join(dir, e.name);
      if (e.isDirectory()) return walk(path);
      return e.name.endsWith('.md') ? [path] : [];
    });
  }
  return [join(ROOT, 'README.md'), ...walk(join(ROOT, 'docs'))];
}

function extractSnippets(file: string, text: string): Snippet[] {
  const lines = text.split('\n');
  const snippets: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = OPEN.exec(lines[i] ?? '');
    if (open === null) continue;
    const indent = open[1]?.length ?? 0;
    let previous = i - 1;
    while (previous >= 0 && (lines[previous] ?? '').trim() === '') previous--;
    const fragment = (lines[previous] ?? '').trim() === FRAGMENT;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !CLOSE.test(lines[j] ?? ''))
      body.push((lines[j++] ?? '').slice(indent));
    if (j === lines.length) throw new Error(`${file}:${i + 1}: unclosed code block`);
    snippets.push({ file, line: i + 2, code: body.join('\n'), fragment });
    i = j;
  }
  return snippets;
}

function allSnippets(): Snippet[] {
  return markdownFiles().flatMap(function read(path) {
    return extractSnippets(relative(ROOT, path), readFileSync(path, 'utf8'));
  });
}

/** A user's strict project, as `nest new` would set decorators up, with the package mapped to src/. */
const BASE: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  noUncheckedIndexedAccess: true,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts'],
  esModuleInterop: true,
  skipLibCheck: true,
  experimentalDecorators: true,
  types: ['node'],
  typeRoots: [join(ROOT, 'node_modules', '@types')],
  baseUrl: ROOT,
  paths: {
    streamguard: ['src/index.ts'],
    'streamguard/*': ['src/*'],
    // the snippets live in a temp dir: packages resolve from this repository
    '*': ['node_modules/@types/*', 'node_modules/*'],
  },
};

/** The module resolutions a user's project may use: classic `nest new` (node10), node16, bundlers. */
const RESOLUTIONS: Record<string, ts.CompilerOptions> = {
  node10: { module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 },
  node16: { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 },
  bundler: { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler },
};

/** Compiles the snippets, each its own module; returns one `file:line: message` per diagnostic. */
function compile(snippets: readonly Snippet[], resolution: ts.CompilerOptions): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'streamguard-snippets-'));
  try {
    const files = new Map<string, Snippet>();
    snippets.forEach(function write(snippet, index) {
      const path = join(dir, `snippet-${index}.ts`);
      mkdirSync(dirname(path), { recursive: true });
      // `export {}` keeps each snippet a module of its own, never a global script
      writeFileSync(path, `${snippet.code}\nexport {};\n`);
      files.set(path, snippet);
    });
    const program = ts.createProgram([...files.keys()], { ...BASE, ...resolution });
    const errors = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map(
      function global(d) {
        return `compiler: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
      },
    );
    for (const [path, snippet] of files) {
      const source = program.getSourceFile(path);
      if (source === undefined) throw new Error(`${snippet.file}:${snippet.line}: not compiled`);
      const diagnostics = [
        ...program.getSyntacticDiagnostics(source),
        ...program.getSemanticDiagnostics(source),
      ];
      for (const d of diagnostics) {
        const at = d.start === undefined ? 0 : source.getLineAndCharacterOfPosition(d.start).line;
        const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
        errors.push(`${snippet.file}:${snippet.line + at}: TS${d.code} ${message}`);
      }
    }
    return errors;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('documentation snippets', () => {
  const snippets = allSnippets();

  it('finds the snippets of the README and of every docs page', () => {
    const pages = markdownFiles().map((path) => relative(ROOT, path));
    const withCode = new Set(snippets.map((s) => s.file));
    const designNotes = pages.filter((page) => page.startsWith('docs/design/'));
    expect(pages.filter((page) => !withCode.has(page) && !designNotes.includes(page))).toEqual([]);
  });

  it('keeps the fragments few, each marked on the line before', () => {
    const fragments = snippets.filter((s) => s.fragment);
    expect(fragments.length).toBeLessThanOrEqual(3);
  });

  it.each(Object.keys(RESOLUTIONS))(
    'compiles every snippet under strict tsc, %s resolution',
    (name) => {
      const resolution = RESOLUTIONS[name] ?? {};
      expect(
        compile(
          snippets.filter((s) => !s.fragment),
          resolution,
        ),
      ).toEqual([]);
    },
    180_000,
  );

  it('fails a snippet that lacks an import, naming the file and line', () => {
    const broken: Snippet = {
      file: 'docs/example.md',
      line: 10,
      code: "import express from 'express';\n\nconst app = express();\napp.use(rateLimit());",
      fragment: false,
    };
    expect(compile([broken], RESOLUTIONS.bundler ?? {})).toEqual([
      "docs/example.md:13: TS2304 Cannot find name 'rateLimit'.",
    ]);
  }, 180_000);

  it('reads an indented block inside a list and the fragment mark', () => {
    const text = ['- item:', '', `  ${FRAGMENT}`, '  ```ts', '  await go();', '  ```', ''].join(
      '\n',
    );
    expect(extractSnippets('x.md', text)).toEqual([
      { file: 'x.md', line: 5, code: 'await go();', fragment: true },
    ]);
  });
});
