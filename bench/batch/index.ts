import { built } from '../built';

const { createBatcher } = built<typeof import('../../src/batch')>('batch');

/**
 * bench/batch: per-item overhead and throughput of createBatcher for 1, 100
 * and 10,000 keys, against calling an async handler once per item (what the
 * seed did before batching). The handler does no I/O, so the figures are the
 * batcher's own cost. `BENCH_ITEMS` sets the items per case (default 1,000,000).
 */
const ITEMS = Number(process.env.BENCH_ITEMS ?? 1_000_000);

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
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
