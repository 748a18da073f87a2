/**
 * The goals BENCHMARKS.md checks each run against (the "goal" column of the
 * README's Benchmarks table). A goal is met when the run recorded the figure
 * (`bench`, `case`, `metric`) and it compares as stated; a figure the run did
 * not record is "not measured", never assumed met. A benchmark records a
 * figure with `record()` from bench/results.ts (or by printing it with
 * `console.table`), under exactly these names.
 */
export interface BenchTarget {
  bench: string;
  case: string;
  metric: string;
  op: '>=' | '<=';
  value: number;
  /** The goal in words, as the README states it. */
  goal: string;
}

export const TARGETS: readonly BenchTarget[] = [
  {
    bench: 'sse',
    case: '1,000 clients',
    metric: 'events/s vs better-sse',
    op: '>=',
    value: 1.5,
    goal: 'sse: ≥ 1.5x better-sse’s delivered events/s with 1,000 clients',
  },
  {
    bench: 'rate-limit',
    case: 'streamguard-memory',
    metric: 'req/s vs bare',
    op: '>=',
    value: 0.97,
    goal: 'rateLimit, memory store: ≥ 0.97x bare Express req/s',
  },
  {
    bench: 'tee',
    case: '1 KiB JSON',
    metric: 'req/s vs no tee',
    op: '>=',
    value: 0.95,
    goal: 'responseTee, 1 KiB JSON: ≥ 0.95x of no tee’s req/s',
  },
  {
    bench: 'tee',
    case: '256 MiB stream',
    metric: 'throughput vs no tee',
    op: '>=',
    value: 0.95,
    goal: 'responseTee, 256 MiB stream: ≥ 0.95x of no tee’s throughput',
  },
  ...['1 KiB', '64 KiB', '1 MiB'].map(
    (size): BenchTarget => ({
      bench: 'body',
      case: `${size} JSON`,
      metric: 'req/s vs verify',
      op: '>=',
      value: 1,
      goal: `rereadableBody, ${size} JSON: ≥ 1.0x the \`verify\` hook’s req/s`,
    }),
  ),
];
