// @ts-check
/**
 * Mutation testing (StrykerJS) over the modules whose bugs lose data or hide failures: a change
 * to one of them that no test notices is a hole in the suite. `npm run test:mutation` fails when
 * the score over these modules falls below `thresholds.break`, and scripts/mutation-summary.mjs
 * then fails when any single module does.
 *
 * The test run is jest.stryker.config.js: only the tests that exercise these modules (unit tests
 * and the S3-only integration tests; nothing that starts PostgreSQL), so a run fits on 2 cores.
 * @see https://stryker-mutator.io/docs/stryker-js/configuration/
 */

/** The guarded modules. A file renamed or split: change it here (and the test list in jest.stryker.config.js). */
export const GUARDED = [
  'lambda/core/tiers.ts',
  'lambda/core/freshness.ts',
  'lambda/core/manifest.ts',
  'lambda/core/catalog.ts',
  'lambda/core/checks.ts',
  'lambda/core/restore-plan.ts',
  'lib/grants.ts',
  'lib/drill-iam.ts',
];

/** `STRYKER_MUTATE=lambda/core/tiers.ts,lambda/core/freshness.ts npm run test:mutation` narrows a run. */
const only = process.env.STRYKER_MUTATE?.split(',').filter(Boolean);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: { projectType: 'custom', configFile: 'jest.stryker.config.js', enableFindRelatedTests: false },
  // Each mutant runs only the tests that reached its code.
  coverageAnalysis: 'perTest',
  // Mutants that do not typecheck are dropped before any test runs (ts-jest does not typecheck).
  // The checker compiles tsconfig.stryker.json (the guarded modules and what they import), not
  // the whole project: with every test and CDK construct it was the bottleneck of the run.
  checkers: ['typescript'],
  tsconfigFile: 'tsconfig.stryker.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: only ?? GUARDED,
  ignorePatterns: ['cdk.out', 'coverage', 'reports', 'bench/out', '.restorable-demo', 'docs'],
  concurrency: 2,
  // Integration tests against the local S3 server take seconds, not milliseconds.
  timeoutMS: 60_000,
  thresholds: { high: 90, low: 80, break: 80 },
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
