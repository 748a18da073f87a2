/**
 * responseTee memory under a flood: what the process holds against
 * `maxInFlightBytes`, measured from outside the capture (a child process per
 * run, `--expose-gc`, heap + external after GC minus before the first
 * request). Two settings:
 *
 * - direct: the tee on a plain `node:http` server, with and without the tee
 *   (the fixture of `__tests__/tee/memory.test.ts`, reused): 64 responses of
 *   2 MiB each, held open after writing, then ended with an async `onFinish`
 *   still holding every record while a second wave streams.
 * - proxied: the same flood through http-proxy-middleware, plain, with the
 *   tee before it, and with its `responseInterceptor` (which buffers each
 *   response whole before sending anything): see ./flood.ts.
 *
 * Run through bench/tee/index.ts (`BENCH_CASES=memory`).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { record } from '../results';

const MiB = 2 ** 20;

/** The flood: `concurrency` responses of `chunks` × `chunk` bytes. */
const SCENARIO = {
  chunk: 64 * 1024,
  chunks: 32,
  concurrency: 64,
  maxBytes: MiB,
  tailBytes: 256 * 1024,
  budget: 16 * MiB,
};

interface DirectReport {
  streaming: number;
  ended: number;
  secondWave: number;
  inFlightStreaming: number;
  inFlightSecondWave: number;
  records: number;
}

interface ProxyReport {
  variant: string;
  streaming: number;
  ended: number;
  inFlight: number;
  records: number;
  delayP99Ms: number;
  delayMaxMs: number;
}

/**
 * Every figure of the memory case.
 *
 * @example
 * printMemory(memoryCase());
 */
export interface MemoryResults {
  scenario: typeof SCENARIO;
  direct: { none: DirectReport; tee: DirectReport };
  proxied: ProxyReport[];
}

function child<T>(args: string[]): T {
  const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (run.status !== 0) throw new Error(`memory child failed: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/**
 * Runs the direct and proxied floods, one child process at a time.
 *
 * @example
 * const results = memoryCase();
 */
export function memoryCase(): MemoryResults {
  const fixture = join(__dirname, '..', '..', '__tests__', 'tee', 'fixtures', 'memory-flood.ts');
  const direct = {
    none: child<DirectReport>([fixture, JSON.stringify({ ...SCENARIO, tee: false, small: 0 })]),
    tee: child<DirectReport>([fixture, JSON.stringify({ ...SCENARIO, tee: true, small: 0 })]),
  };
  const flood = join(__dirname, 'flood.ts');
  const proxied = ['proxy', 'proxy-tee', 'proxy-interceptor'].map((v) =>
    child<ProxyReport>([flood, v, JSON.stringify(SCENARIO)]),
  );
  return { scenario: SCENARIO, direct, proxied };
}

/** Records one figure for bench/results; 'n/a' where it is not a finite number. */
function put(c: string, metric: string, v: number, unit: string): void {
  record({ case: c, metric, value: Number.isFinite(v) ? v : 'n/a', unit });
}

function mib(n: number): string {
  return `${(n / MiB).toFixed(1)} MiB`;
}

/**
 * Prints the memory figures as ratios to the budget and to the run without capture.
 *
 * @example
 * printMemory(memoryCase());
 */
export function printMemory(r: MemoryResults): void {
  const s = r.scenario;
  const wanted = s.concurrency * (s.maxBytes + s.tailBytes);
  console.log(
    `\nmemory flood: ${s.concurrency} responses × ${mib(s.chunk * s.chunks)} ` +
      `(${s.chunks} writes of ${s.chunk / 1024} KiB), maxBytes ${mib(s.maxBytes)}, tailBytes ` +
      `${s.tailBytes / 1024} KiB: captures want ${mib(wanted)}, maxInFlightBytes ${mib(s.budget)}; ` +
      'held = heap + external after GC, minus before the first request',
  );
  const { none, tee } = r.direct;
  console.log(
    '  direct (node:http)       streaming    ended, onFinish pending   2nd wave streaming',
  );
  for (const [name, d] of [
    ['no tee', none],
    ['tee', tee],
  ] as const) {
    console.log(
      `  ${name.padEnd(22)} ${mib(d.streaming).padStart(10)}  ${mib(d.ended).padStart(10)}               ${mib(d.secondWave).padStart(10)}`,
    );
    put(`memory, direct ${name}`, 'held streaming', d.streaming / MiB, 'MiB');
    put(`memory, direct ${name}`, 'held ended, onFinish pending', d.ended / MiB, 'MiB');
    put(`memory, direct ${name}`, 'held 2nd wave streaming', d.secondWave / MiB, 'MiB');
  }
  const direct = 'memory, direct tee';
  put(direct, 'held streaming / budget', tee.streaming / s.budget, 'x');
  put(direct, 'held ended / budget', tee.ended / s.budget, 'x');
  put(direct, 'held 2nd wave / budget', tee.secondWave / s.budget, 'x');
  put(
    direct,
    '2nd wave, tee minus no tee / budget',
    (tee.secondWave - none.secondWave) / s.budget,
    'x',
  );
  put(
    direct,
    'inFlightBytes peak',
    Math.max(tee.inFlightStreaming, tee.inFlightSecondWave) / MiB,
    'MiB',
  );
  console.log(
    `  tee held / budget: ${(tee.streaming / s.budget).toFixed(2)}x / ${(tee.ended / s.budget).toFixed(2)}x / ` +
      `${(tee.secondWave / s.budget).toFixed(2)}x; tee minus no-tee / budget (2nd wave): ` +
      `${((tee.secondWave - none.secondWave) / s.budget).toFixed(2)}x; inFlightBytes peak ${mib(Math.max(tee.inFlightStreaming, tee.inFlightSecondWave))}`,
  );
  console.log(
    '  proxied (http-proxy-middleware)  held, proxy got every byte   held, ended (onFinish pending)   event-loop delay p99 / max',
  );
  const plain = r.proxied.find((p) => p.variant === 'proxy')!;
  for (const p of r.proxied) {
    console.log(
      `  ${p.variant.padEnd(32)} ${mib(p.streaming).padStart(10)} (${(p.streaming / s.budget).toFixed(2)}x budget)` +
        `    ${mib(p.ended).padStart(10)}                     ${p.delayP99Ms.toFixed(1)} / ${p.delayMaxMs.toFixed(1)} ms`,
    );
    const c = `memory, ${p.variant}`;
    put(c, 'held streaming', p.streaming / MiB, 'MiB');
    put(c, 'held streaming / budget', p.streaming / s.budget, 'x');
    put(c, 'held ended, onFinish pending', p.ended / MiB, 'MiB');
    put(c, 'event-loop delay p99', p.delayP99Ms, 'ms');
    put(c, 'event-loop delay max', p.delayMaxMs, 'ms');
  }
  const teed = r.proxied.find((p) => p.variant === 'proxy-tee')!;
  const intercepted = r.proxied.find((p) => p.variant === 'proxy-interceptor')!;
  console.log(
    `  while streaming, responseInterceptor holds ${((intercepted.streaming - plain.streaming) / Math.max(1, teed.streaming - plain.streaming)).toFixed(1)}x ` +
      'what the tee holds (each minus the plain proxy)',
  );
  put(
    'memory, proxied',
    'held streaming, interceptor/tee (each minus plain proxy)',
    (intercepted.streaming - plain.streaming) / Math.max(1, teed.streaming - plain.streaming),
    'x',
  );
}
