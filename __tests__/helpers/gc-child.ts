import { spawnSync } from 'node:child_process';

/**
 * Runs a memory fixture in a child process with `--expose-gc` (so it can
 * measure heap + external after GC from outside the test's own heap) and
 * returns the JSON report it prints. The child must write nothing to stderr.
 */
export function runGcFixture<Report>(fixture: string, ...args: string[]): Report {
  const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fixture, ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(child.stderr).toBe('');
  return JSON.parse(child.stdout) as Report;
}
