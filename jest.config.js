const { execFileSync } = require('node:child_process');
const { existsSync, readdirSync, readFileSync } = require('node:fs');
const { join, relative } = require('node:path');

/**
 * Suites that need a system program. On CI (`CI` set) they are required and
 * fail if it is missing; on a laptop without it they are left out with one
 * line naming what to install.
 */
const SYSTEM_NEEDS = [
  {
    name: 'redis-server',
    install: 'apt-get install redis-server (or brew install redis)',
    uses: /\bstartRedis\(/,
    present: () => runs('redis-server', ['--version']),
  },
  {
    name: 'Chromium',
    install: 'apt-get install chromium, or set CHROMIUM_PATH',
    uses: /from 'playwright-core'/,
    present: () => existsSync(process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'),
  },
];

function runs(command, args) {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

function missingSystemSuites() {
  if (process.env.CI) return [];
  const missing = SYSTEM_NEEDS.filter((need) => !need.present());
  if (missing.length === 0) return [];
  const files = testFiles(join(__dirname, '__tests__'));
  const skipped = [];
  for (const need of missing) {
    const suites = files.filter((file) => need.uses.test(readFileSync(file, 'utf8')));
    if (suites.length === 0) continue;
    skipped.push(...suites);
    console.log(
      `streamguard: skipping ${suites.length} suites that need ${need.name} (not found): ${need.install}. CI=true makes them required.`,
    );
  }
  return skipped.map((file) => `<rootDir>/${relative(__dirname, file)}`.replace(/\\/g, '/'));
}

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/__tests__'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', ...missingSystemSuites()],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  // Relative imports written with their runtime extension (`./pool.js`, as nodenext wants;
  // scripts/esm-imports.mjs) resolve to the TypeScript source.
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  setupFilesAfterEnv: ['<rootDir>/__tests__/helpers/setup.ts'],
  testTimeout: 30000,
  maxWorkers: 2,
};
