import { resolve } from 'node:path';
import { built } from '../built';
import { type BacklogCase, type BacklogResult, backlog } from './backlog';

type BatchModule = typeof import('../../src/batch');
const { createBatcher } = built<BatchModule>('batch');

/**
 * bench/batch: per-item overhead and throughput of createBatcher for 1, 100
 * and 10,000 keys, against calling an async handler once per item (what the
 * seed did before batching). The handler does no I/O, so the figures are the
 * batcher's own cost. `BENCH_ITEMS` sets the items per case (default 1,000,000).
 *
 * Then a large backlog (see ./backlog.ts): `BENCH_ITEMS` items with
 * `BENCH_WAITING` adds (default 100,000) waiting for room all along. Set
 * `BENCH_BATCH_BEFORE` to another build of the batcher (a path to its
 * `dist/batch/index.js`, or to a source `src/batch/index.ts`) to run the same
 * backlog against it and print the ratio; `BENCH_BATCH_AFTER` replaces the
 * built package on the other side (to compare sources with sources).
 */
const ITEMS = Number(process.env.BENCH_ITEMS ?? 1_000_000);
const WAITING = Number(process.env.BENCH_WAITING ?? 100_000);

interface Result {
  name: string;
  itemsPerSecond: number;
  nsPerItem: number;
  heapMiB: number;
}

async function perItemBaseline(): Promise<Result> {
  let handled = 0;
  async function handler(_key: string, items: number[]): Promise<void> {
    handled += items.length;
  }
  const started = process.hrtime.bigint();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < ITEMS; i++) pending.push(handler(`k${i % 100}`, [i]));
  await Promise.all(pending);
  return finish('no batcher (handler per item, 100 keys)', started, handled);
}

async function batched(keys: number): Promise<Result> {
  let handled = 0;
  const batcher = createBatcher<number>({
    key: (n) => `k${n % keys}`,
    maxSize: 100,
    maxWait: 50,
    maxPending: ITEMS,
    handler: async (_key, items) => {
      handled += items.length;
    },
  });
  const started = process.hrtime.bigint();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < ITEMS; i++) pending.push(batcher.add(i));
  await batcher.close();
  await Promise.all(pending);
  return finish(
    `createBatcher, ${keys.toLocaleString('en')} key${keys === 1 ? '' : 's'}`,
    started,
    handled,
  );
}

function finish(name: string, started: bigint, handled: number): Result {
  const ns = Number(process.hrtime.bigint() - started);
  if (handled !== ITEMS) throw new Error(`${name}: handled ${handled} of ${ITEMS}`);
  return {
    name,
    itemsPerSecond: (ITEMS / ns) * 1e9,
    nsPerItem: ns / ITEMS,
    heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
  };
}

const BACKLOG: BacklogCase[] = [
  {
    name: `1 key, ${WAITING.toLocaleString('en')} waiting`,
    items: ITEMS,
    waiting: WAITING,
    keys: 1,
    maxSize: 10,
    maxPending: 10_000,
    concurrency: Infinity,
  },
  {
    name: `10,000 keys, concurrency 4, ${WAITING.toLocaleString('en')} waiting`,
    items: ITEMS,
    waiting: WAITING,
    keys: 10_000,
    maxSize: 10,
    maxPending: 100_000,
    concurrency: 4,
  },
];

function load(path: string): BatchModule {
  return require(resolve(path)) as BatchModule;
}

async function backlogs(): Promise<void> {
  const before = process.env.BENCH_BATCH_BEFORE;
  const after = process.env.BENCH_BATCH_AFTER;
  const ours = after === undefined ? createBatcher : load(after).createBatcher;
  const rows: Record<string, string>[] = [];
  for (const spec of BACKLOG) {
    global.gc?.();
    const now: BacklogResult = await backlog(ours, spec);
    const row: Record<string, string> = {
      case: spec.name,
      seconds: now.seconds.toFixed(2),
      'items/s': Math.round(now.itemsPerSecond).toLocaleString('en'),
      'peak waiting': now.peakWaiting.toLocaleString('en'),
    };
    if (before !== undefined) {
      global.gc?.();
      const then = await backlog(load(before).createBatcher, spec);
      row['before, seconds'] = then.seconds.toFixed(2);
      row['before / now'] = `${(then.seconds / now.seconds).toFixed(1)}x`;
    }
    rows.push(row);
  }
  console.log(
    `\nbacklog: ${ITEMS.toLocaleString('en')} items, ${WAITING.toLocaleString('en')} adds waiting for room`,
  );
  console.table(rows);
}

async function main(): Promise<void> {
  const results: Result[] = [];
  results.push(await perItemBaseline());
  for (const keys of [1, 100, 10_000]) {
    global.gc?.();
    results.push(await batched(keys));
  }
  const base = results[0]!.itemsPerSecond;
  console.log(`items per case: ${ITEMS.toLocaleString('en')}`);
  console.table(
    results.map((r) => ({
      case: r.name,
      'items/s': Math.round(r.itemsPerSecond).toLocaleString('en'),
      'ns/item': r.nsPerItem.toFixed(0),
      'vs per-item': `${(r.itemsPerSecond / base).toFixed(2)}x`,
    })),
  );
  await backlogs();
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
