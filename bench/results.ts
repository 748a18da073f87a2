import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The JSON a benchmark run leaves in `bench/results/<bench>.json`, from
 * which `scripts/bench-report.ts` generates BENCHMARKS.md (issue 16).
 */

/** One measured figure. A ratio has unit `'x'` and says what it is a ratio to in `metric`. */
export interface BenchRecord {
  /** The case, as the benchmark names it (`'1 KiB JSON'`, `'1 key'`). */
  case: string;
  /** What was measured (`'req/s vs bare'`, `'items/s'`). */
  metric: string;
  /** The figure: a number where the benchmark printed one, else its text. */
  value: number | string;
  /** `'x'` for a ratio, `'µs'`, `'MiB'`, … ; absent when unknown. */
  unit?: string;
}

/** One `bench/<name>` run, as bench/run.ts writes it. */
export interface BenchResult {
  bench: string;
  /** ISO date and time the run started. */
  date: string;
  node: string;
  /** Short commit the run measured ('' outside git). */
  commit: string;
  cpus: number;
  /** The BENCH_* environment variables the run was given (durations, sizes). */
  env: Record<string, string>;
  exitCode: number;
  seconds: number;
  records: BenchRecord[];
  /** Everything the benchmark printed, for the figures it does not record yet. */
  output: string;
}

/**
 * Records one figure for the current run: a line of JSON appended to the file
 * bench/run.ts names in `BENCH_RESULTS_FILE` (nothing outside `npm run bench`).
 *
 * @example
 * record({ case: '1 KiB JSON', metric: 'req/s vs no tee', value: rps / bareRps, unit: 'x' });
 */
export function record(entry: BenchRecord): void {
  const file = process.env.BENCH_RESULTS_FILE;
  if (file === undefined || file === '') return;
  appendFileSync(file, `${JSON.stringify(entry)}\n`);
}

/**
 * A printed cell as a number when it is one (`'1,234'`, `'0.97x'`, `'12.5'`), with its unit.
 *
 * @example
 * parseCell('0.97x'); // { value: 0.97, unit: 'x' }
 */
export function parseCell(text: string): { value: number | string; unit?: string } {
  const match = /^\s*(-?[\d,]*\.?\d+)\s*(x|%|ms|µs|us|ns|s|MiB|KiB|B)?\s*$/.exec(text);
  if (match === null) return { value: text };
  const value = Number(match[1]!.replace(/,/g, ''));
  if (!Number.isFinite(value)) return { value: text };
  return match[2] === undefined ? { value } : { value, unit: match[2] };
}

/**
 * Every `bench/results/*.json`, sorted by bench name.
 *
 * @example
 * const results = readResults(join(__dirname, 'results'));
 */
export function readResults(dir: string): BenchResult[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as BenchResult);
}
