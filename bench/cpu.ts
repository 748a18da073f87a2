/**
 * CPU pinning for benchmarks: the load generator on one core, the server
 * under test on another, so neither steals the other's time and req/s
 * measures the server's cost per request rather than the scheduler's mood.
 * Uses `taskset` (util-linux); where it is missing or the machine has one
 * core, nothing is pinned and the figures say so.
 */
import { execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

/**
 * Pins every thread of process `pid` to `cpu`. Returns whether it did.
 *
 * @example
 * pin(process.pid, 0);
 * pin(child.pid, 1);
 */
export function pin(pid: number | undefined, cpu: number): boolean {
  if (pid === undefined || availableParallelism() < 2) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
