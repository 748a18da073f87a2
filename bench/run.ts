import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPORT_FILE, RESULTS_DIR, renderReport } from '../scripts/bench-report';
import { type BenchRecord, type BenchResult, readResults } from './results';
import { TARGETS } from './targets';

/**
 * `npm run bench [name…]`: runs each `bench/<name>/index.ts` one after the
 * other (never in parallel: the machines have two cores), each printing its
 * own table of ratios against the peers. `BENCH_SECONDS` sets the duration
 * per case where a benchmark supports it.
 *
 * Each run is also written to `bench/results/<name>.json` (the figures the
 * benchmark records with `record()` or prints with `console.table`, and what
 * it printed), and BENCHMARKS.md is generated from all of bench/results/
 * (scripts/bench-report.ts). `BENCH_NO_REPORT=1` leaves both alone.
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
/** Runs one benchmark, echoing what it prints, and returns its result for bench/results. */
function runBench(name: string): Promise<BenchResult> {
  const scratch = mkdtempSync(join(tmpdir(), `bench-${name}-`));
  const recordsFile = join(scratch, 'records.jsonl');
  const started = Date.now();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--import', join(root, 'capture.ts'), join(root, name, 'index.ts')],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, BENCH_RESULTS_FILE: recordsFile },
    },
  );
  let output = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    output += chunk;
    process.stdout.write(chunk);
  });
  return new Promise((resolve) => {
    child.on('close', (code) => {
      const records = existsSync(recordsFile)
        ? readFileSync(recordsFile, 'utf8')
            .split('\n')
            .filter((line) => line !== '')
            .map((line) => JSON.parse(line) as BenchRecord)
        : [];
      rmSync(scratch, { recursive: true, force: true });
      resolve({
        bench: name,
        date: new Date(started).toISOString(),
        node: process.version,
        commit: gitCommit(),
        cpus: cpus().length,
        env: Object.fromEntries(
          Object.entries(process.env)
            .filter(([key]) => /^(BENCH_|EVENT_BYTES$)/.test(key) && key !== 'BENCH_NO_BUILD')
            .map(([key, value]): [string, string] => [key, value ?? ''])
            .sort(([a], [b]) => (a < b ? -1 : 1)),
        ),
        exitCode: code ?? 1,
        seconds: Math.round((Date.now() - started) / 100) / 10,
        records,
        // biome-ignore lint/suspicious/noControlCharactersInRegex: strips terminal colours
        output: output.replace(/\u001b\[[0-9;]*m/g, ''),
      });
    });
  });
}

function gitCommit(): string {
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  return git.status === 0 ? git.stdout.trim() : '';
}

async function main(): Promise<void> {
  let failed = 0;
  const report = process.env.BENCH_NO_REPORT === undefined;
  for (const name of chosen) {
    console.log(`\n=== bench/${name} ===`);
    const result = await runBench(name);
    if (result.exitCode !== 0) failed++;
    if (report) {
      mkdirSync(RESULTS_DIR, { recursive: true });
      writeFileSync(join(RESULTS_DIR, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
    }
  }
  if (report && chosen.length > 0) {
    writeFileSync(REPORT_FILE, renderReport(readResults(RESULTS_DIR), TARGETS));
    console.log(`\nwrote bench/results/{${chosen.join(',')}}.json and BENCHMARKS.md`);
  }
  process.exitCode = failed > 0 ? 1 : 0;
}

void main();
