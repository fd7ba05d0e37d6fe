// `npm test`: every suite in test/, in parallel processes (mocha --parallel), with the slowest files started
// first so that none of them is left alone at the end. `npx mocha <file>` keeps using .mocharc.json (one process,
// output as it comes). Each suite owns what it touches (its PostgreSQL schema, Redis keys, a private Redis, free
// ports), so two files may run at once; docs/decisions/0025-parallel-test-run.md says what that asks of a new suite.
const { readdirSync, existsSync } = require('node:fs');
const { join, relative } = require('node:path');
const base = require('../.mocharc.json');

const root = join(__dirname, '..');

/** The slowest files of a serial run (2026-12-01, 2 cores), slowest first: 171, 106, 61, 57, 53, 51, 34 s. */
const slowest = [
  'test/e2e/outside-repo.test.ts',
  'test/e2e/distributed-faults.test.ts',
  'test/docs/doc-commands.test.ts',
  'test/core/cli-plugins-journey.test.ts',
  'test/core/cli-config-set.test.ts',
  'test/core/cli-plugins-new.test.ts',
  'test/core/cli-plugins-config.test.ts',
];
for (const file of slowest) {
  if (!existsSync(join(root, file))) throw new Error(`test/all.mocharc.cjs names ${file}, which no longer exists`);
}

function testFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : testFiles(path);
    return entry.name.endsWith('.test.ts') ? [relative(root, path)] : [];
  });
}

const jobs = Number(process.env.OPSPAWN_TEST_JOBS ?? 2);
if (!Number.isInteger(jobs) || jobs < 1) {
  throw new Error(
    `OPSPAWN_TEST_JOBS must be a whole number ≥ 1 (1 runs every file in one process), not "${process.env.OPSPAWN_TEST_JOBS}"`,
  );
}

module.exports = {
  ...base,
  spec: [
    ...slowest,
    ...testFiles(join(root, 'test'))
      .filter((file) => !slowest.includes(file))
      .sort(),
  ],
  ...(jobs > 1 ? { parallel: true, jobs } : {}),
};
