/**
 * The jest run Stryker uses (stryker.config.mjs), and the one home of the guarded modules: each
 * module with the tests that exercise it (unit tests, and integration tests that need only the
 * local S3 server; none that start PostgreSQL). A run over some modules
 * (`STRYKER_MUTATE=lambda/core/catalog.ts`) loads only their tests. A module renamed or split:
 * change it here.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const GUARDED = {
  'lambda/core/tiers.ts': ['test/unit/tiers.test.ts'],
  'lambda/core/manifest.ts': ['test/unit/manifest.test.ts'],
  'lambda/core/freshness.ts': ['test/unit/freshness.test.ts', 'test/integration/freshness.test.ts'],
  'lambda/core/catalog.ts': ['test/integration/catalog.test.ts'],
  // checks-runner drives runChecks with the catalog reads mocked; test/integration/checks.test.ts
  // runs it on a real database, but starting a cluster for every mutant takes too long.
  'lambda/core/checks.ts': ['test/unit/drill-core.test.ts', 'test/unit/checks-runner.test.ts'],
  'lambda/core/restore-plan.ts': ['test/unit/restore-plan.test.ts'],
  // The grant methods, each compared whole on a small stack without a BackupBucket. Stack tests
  // (backup-stack, restore-drill, ...) check the same grants on every role but synthesize for
  // tens of seconds.
  'lib/constructs/backup-bucket-grants.ts': ['test/unit/backup-bucket-grants.test.ts'],
  // Every statement resolved on a bare stack; drill-iam.test.ts and restore-drill.test.ts check
  // them on the synthesized roles (30 s and more per run: too slow for every mutant).
  'lib/drill-iam.ts': ['test/unit/drill-iam-statements.test.ts'],
};

/** The modules of this run: STRYKER_MUTATE (comma-separated) or all of them. */
const modules = process.env.STRYKER_MUTATE?.split(',').filter(Boolean) ?? Object.keys(GUARDED);

module.exports = {
  testTimeout: 180000,
  testEnvironment: 'node',
  rootDir: __dirname,
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true, diagnostics: false }] },
  testMatch: [...new Set(modules.flatMap((m) => GUARDED[m] ?? []))].map((t) => `<rootDir>/${t}`),
};
// Not jest options (jest warns about unknown keys): what stryker.config.mjs reads.
Object.defineProperty(module.exports, 'guarded', { value: GUARDED, enumerable: false });
Object.defineProperty(module.exports, 'modules', { value: modules, enumerable: false });
