/**
 * MemoryStore under key spraying, before (a Map iterated in insertion order,
 * bench/rate-limit/old-memory-store.ts) and after (a Map plus linked lists),
 * in one run: a store at the default `maxKeys` (100,000) already full, then
 * fresh keys one after another (each evicts one), and a hot key for
 * comparison. Each case runs in a child process of its own (no JIT or heap
 * shared between them). Prints µs per call and the ratio old/new.
 * `BENCH_SPRAY` (default 200,000) fresh keys per case.
 *
 *   npx tsx bench/rate-limit/spray.ts
 */
import { execFileSync } from 'node:child_process';
import { MemoryStore } from '../../src/rate-limit/memory-store';
import type { Policy } from '../../src/rate-limit/policy';
import { OldMemoryStore } from './old-memory-store';

const SPRAY = Number(process.env.BENCH_SPRAY ?? 200_000);
const MAX_KEYS = 100_000;
const policy: Policy = {
  emission: 100,
  burst: 30,
  penalty: { after: 3, duration: 60_000, escalate: 1, max: 60_000 },
};

type Store = { consume(key: string, cost: number, policy: Policy, now?: number): unknown };

function measure(kind: string, scenario: string): number {
  const store: Store = kind === 'old' ? new OldMemoryStore() : new MemoryStore();
  const now = Date.now();
  for (let i = 0; i < MAX_KEYS; i++) store.consume(`fill-${i}`, 1, policy, now);
  const start = process.hrtime.bigint();
  if (scenario === 'spray') for (let i = 0; i < SPRAY; i++) store.consume(`s-${i}`, 1, policy, now);
  else for (let i = 0; i < SPRAY; i++) store.consume('hot', 0, policy, now);
  return Number(process.hrtime.bigint() - start) / 1000 / SPRAY;
}

if (process.env.SPRAY_CHILD !== undefined) {
  const [kind, scenario] = process.env.SPRAY_CHILD.split(':') as [string, string];
  process.stdout.write(String(measure(kind, scenario)));
} else {
  for (const scenario of ['spray', 'hot']) {
    const us: Record<string, number> = {};
    for (const kind of ['old', 'new']) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', __filename], {
        env: { ...process.env, SPRAY_CHILD: `${kind}:${scenario}` },
      });
      us[kind] = Number(out.toString());
    }
    const label = scenario === 'spray' ? 'new key (full store)' : 'hot key';
    console.log(
      `${label.padEnd(22)} before ${us.old!.toFixed(3)} µs/call  after ${us.new!.toFixed(3)} µs/call  before/after ${(us.old! / us.new!).toFixed(1)}x`,
    );
  }
}
