import { readFileSync } from 'node:fs';
import { type BenchResult, parseCell, readResults } from '../../bench/results';
import type { BenchTarget } from '../../bench/targets';
import { TARGETS } from '../../bench/targets';
import { judge, REPORT_FILE, RESULTS_DIR, renderReport } from '../../scripts/bench-report';

/**
 * BENCHMARKS.md is generated from bench/results/*.json (issue 16): these
 * tests fail when it was edited by hand or not regenerated after a run, and
 * check that "met" is computed from the recorded figures.
 */
test('BENCHMARKS.md is exactly what bench/results/*.json gives (regenerate: npm run bench:report)', () => {
  expect(readFileSync(REPORT_FILE, 'utf8')).toBe(renderReport(readResults(RESULTS_DIR), TARGETS));
});

function run(bench: string, records: BenchResult['records']): BenchResult {
  return {
    bench,
    date: '2026-12-03T12:00:00.000Z',
    node: 'v20.0.0',
    commit: 'abc1234',
    cpus: 2,
    env: { BENCH_SECONDS: '2' },
    exitCode: 0,
    seconds: 10,
    records,
    output: '',
  };
}

const target: BenchTarget = {
  bench: 'tee',
  case: '1 KiB JSON',
  metric: 'req/s vs no tee',
  op: '>=',
  value: 0.95,
  goal: 'tee ≥ 0.95x',
};

test.each([
  [0.96, 'yes'],
  [0.95, 'yes'],
  [0.94, 'no'],
])('a goal of ≥ 0.95x measured at %p is met: %s', (value, met) => {
  const [verdict] = judge(
    [run('tee', [{ case: '1 KiB JSON', metric: 'req/s vs no tee', value, unit: 'x' }])],
    [target],
  );
  expect(verdict!.met).toBe(met);
  const report = renderReport(
    [run('tee', [{ case: '1 KiB JSON', metric: 'req/s vs no tee', value, unit: 'x' }])],
    [target],
  );
  expect(report).toContain(`| tee ≥ 0.95x | ${value.toFixed(2)}x | ${met} | 2026-12-03 |`);
});

test('a goal of at most a bound is met at or under it', () => {
  const bound: BenchTarget = { ...target, op: '<=', value: 1 };
  const at = (value: number) =>
    judge([run('tee', [{ case: '1 KiB JSON', metric: 'req/s vs no tee', value }])], [bound])[0]!
      .met;
  expect([at(0.5), at(1), at(1.5)]).toEqual(['yes', 'yes', 'no']);
});

test('a goal whose figure was not recorded, or recorded as text, is "not measured", never met', () => {
  const verdicts = judge(
    [
      run('tee', [{ case: '1 KiB JSON', metric: 'req/s vs no tee', value: 'n/a' }]),
      run('body', [{ case: '1 KiB JSON', metric: 'req/s vs verify', value: 2, unit: 'x' }]),
    ],
    [target, { ...target, bench: 'sse' }, { ...target, bench: 'body', case: '64 KiB JSON' }],
  );
  expect(verdicts.map((v) => v.met)).toEqual(['not measured', 'not measured', 'not measured']);
  expect(renderReport([], [target])).toContain(
    '| tee ≥ 0.95x | — | not measured | bench/tee not run |',
  );
});

test('a benchmark that records nothing has what it printed in the report, and a failed run says so', () => {
  const printed = { ...run('sse', []), output: 'sse: 2.21x better-sse\n', exitCode: 1 };
  const report = renderReport([printed], []);
  expect(report).toContain('## bench/sse');
  expect(report).toContain('**exited 1**');
  expect(report).toContain('```text\nsse: 2.21x better-sse\n```');
});

test('printed table cells become numbers with their unit', () => {
  expect([parseCell('1,234'), parseCell('0.97x'), parseCell('12.5 ms'), parseCell('ours')]).toEqual(
    [{ value: 1234 }, { value: 0.97, unit: 'x' }, { value: 12.5, unit: 'ms' }, { value: 'ours' }],
  );
});
