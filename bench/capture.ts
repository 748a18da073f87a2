import { parseCell, record } from './results';

/**
 * Preloaded by bench/run.ts into every benchmark (`--import`): each row a
 * benchmark prints with `console.table` is also recorded, one figure per
 * column, so a benchmark that prints a table needs no change to land in
 * bench/results. The row's `case` column (or its first) names the case.
 */
const table = console.table.bind(console);
console.table = function recordingTable(data: unknown, properties?: readonly string[]): void {
  table(data, properties);
  if (!Array.isArray(data)) return;
  for (const row of data as unknown[]) {
    if (typeof row !== 'object' || row === null) continue;
    const cells = Object.entries(row as Record<string, unknown>);
    const named = cells.find(([key]) => key === 'case') ?? cells[0];
    if (named === undefined) continue;
    for (const [metric, cell] of cells) {
      if (cell === named[1] && metric === named[0]) continue;
      record({ case: String(named[1]), metric, ...parseCell(String(cell)) });
    }
  }
};
