import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * The published declarations (`npm run build` → dist/): no `@internal`
 * member survives, and every diagnostics-channel message type of
 * src/core/instrument.ts is importable from the root and from its
 * middleware's subpath, for CommonJS (node10 resolution, .d.ts) and ESM
 * (bundler resolution, .d.mts) consumers.
 */
const run = promisify(execFile);
const root = join(__dirname, '..', '..');
const dist = join(root, 'dist');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
let dir = '';

beforeAll(async () => {
  await run(npm, ['run', 'build'], {
    cwd: root,
    env: { ...process.env, npm_config_loglevel: 'error' },
  });
  dir = mkdtempSync(join(tmpdir(), 'streamguard-dts-'));
}, 240_000);

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

function declarationFiles(folder: string): string[] {
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.d.ts') || f.endsWith('.d.mts'))
    .map((f) => join(folder, f));
}

/** Every `export interface XxxMessage` in instrument.ts, with the subpath that re-exports it. */
function messageTypes(): { name: string; subpath: string | undefined }[] {
  const source = readFileSync(join(root, 'src/core/instrument.ts'), 'utf8');
  const names = [...source.matchAll(/^export interface (\w+Message) /gm)].map(
    (m) => m[1] as string,
  );
  const prefixes: [string, string][] = [
    ['Body', 'body'],
    ['Tee', 'tee'],
    ['Sse', 'sse'],
    ['RateLimit', 'rate-limit'],
    ['Batch', 'batch'],
  ];
  return names.map((name) => ({
    name,
    subpath: prefixes.find(([prefix]) => name.startsWith(prefix))?.[1],
  }));
}

async function tsc(
  files: Record<string, string>,
  options: Record<string, unknown>,
): Promise<string> {
  const project = mkdtempSync(join(dir, 'p-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(project, name), text);
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        target: 'ES2022',
        lib: ['ES2023'],
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
        ...options,
      },
      files: Object.keys(files),
    }),
  );
  const tscBin = require.resolve('typescript/bin/tsc');
  return run(process.execPath, [tscBin, '-p', project], { cwd: project }).then(
    (r) => r.stdout + r.stderr,
    (err: { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}`,
  );
}

function consumer(entry: (subpath: string | undefined) => string): string {
  const messages = messageTypes();
  const lines = [
    `import type { CHANNELS, ChannelMessages, ${messages.map((m) => m.name).join(', ')} } from '${entry(undefined)}';`,
    `import type { Lease, BufferPool } from '${entry('body')}';`,
  ];
  for (const { name, subpath } of messages)
    if (subpath !== undefined)
      lines.push(`import type { ${name} as Sub${name} } from '${entry(subpath)}';`);
  lines.push(
    'type Channel = (typeof CHANNELS)[keyof typeof CHANNELS];',
    'export const everyChannelHasAType: [Exclude<Channel, keyof ChannelMessages>] extends [never] ? true : false = true;',
    'export const noTypeWithoutAChannel: [Exclude<keyof ChannelMessages, Channel>] extends [never] ? true : false = true;',
    `export type All = [${messages.map((m) => m.name).join(', ')}];`,
    `export type AllSub = [${messages
      .filter((m) => m.subpath !== undefined)
      .map((m) => `Sub${m.name}`)
      .join(', ')}];`,
    'declare const lease: Lease;',
    'declare const pool: BufferPool;',
    '// @ts-expect-error @internal members are not in the published types',
    'lease.peek(1);',
    '// @ts-expect-error @internal members are not in the published types',
    'pool.giveBack(lease);',
    'export const capacity: number = lease.capacity;',
  );
  return `${lines.join('\n')}\n`;
}

test('no published declaration file mentions @internal', () => {
  const files = declarationFiles(dist);
  expect(files.length).toBeGreaterThan(10);
  const leaking = files.filter((f) => readFileSync(f, 'utf8').includes('@internal'));
  expect(leaking).toEqual([]);
});

test('every message type is exported from the root and its subpath (CommonJS types, node10)', async () => {
  const out = await tsc(
    {
      'consumer.ts': consumer((sub) =>
        join(dist, sub === undefined ? 'index' : `${sub}/index`).replaceAll('\\', '/'),
      ),
    },
    { module: 'CommonJS', moduleResolution: 'Node10' },
  );
  expect(out).toBe('');
}, 60_000);

test('every message type is exported from the root and its subpath (ESM types, .d.mts)', async () => {
  const out = await tsc(
    {
      'consumer.mts': consumer((sub) =>
        join(dist, sub === undefined ? 'index.mjs' : `${sub}/index.mjs`).replaceAll('\\', '/'),
      ),
    },
    { module: 'ESNext', moduleResolution: 'Bundler' },
  );
  expect(out).toBe('');
}, 60_000);
