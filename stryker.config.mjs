// @ts-check
import { createRequire } from 'node:module';
/**
 * Mutation testing (StrykerJS) over the modules whose bugs lose data or hide failures: a change
 * to one of them that no test notices is a hole in the suite. `npm run test:mutation` fails when
 * the score over these modules falls below `thresholds.break`, and scripts/mutation-summary.mjs
 * then fails when any single module does.
 *
 * The test run is jest.stryker.config.js: only the tests that exercise these modules (unit tests
 * and the S3-only integration tests; nothing that starts PostgreSQL).
 * @see https://stryker-mutator.io/docs/stryker-js/configuration/
 */

const require = createRequire(import.meta.url);
/** The guarded modules and the tests of each live in jest.stryker.config.js; STRYKER_MUTATE narrows both. */
const { modules } = require('./jest.stryker.config.js');

/** A narrowed run keeps its own report and incremental file, so runs per module add up. */
const suffix = process.env.STRYKER_MUTATE
  ? `-${modules.map((m) => m.replace(/^.*\//, '').replace(/\.ts$/, '')).join('+')}`
  : '';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'npm',
  testRunner: 'jest',
  jest: { projectType: 'custom', configFile: 'jest.stryker.config.js', enableFindRelatedTests: false },
  // Each mutant runs only the tests that reached its code.
  coverageAnalysis: 'perTest',
  // Mutants that do not typecheck are dropped before any test runs (ts-jest does not typecheck).
  // The checker compiles tsconfig.stryker.json, lambda/core only: with lib/ (aws-cdk-lib's 2,600
  // declaration files) type-checking each mutant's dependents kept the test runner idle. Runs
  // over lib/ modules go without it; a mutant that does not typecheck then runs and is killed or
  // survives like any other.
  // STRYKER_TYPECHECK=0 skips the checker on a loaded machine (it costs more than the tests of a
  // pure module): mutants that would not typecheck then run too, and count as killed or survived.
  checkers:
    process.env.STRYKER_TYPECHECK !== '0' && modules.every((m) => m.startsWith('lambda/core/'))
      ? ['typescript']
      : [],
  tsconfigFile: 'tsconfig.stryker.json',
  typescriptChecker: { prioritizePerformanceOverAccuracy: true },
  mutate: modules,
  ignorePatterns: ['cdk.out', 'coverage', 'reports', 'bench/out', '.restorable-demo', 'docs'],
  concurrency: 2,
  // Integration tests against the local S3 server take seconds, not milliseconds.
  timeoutMS: 60_000,
  thresholds: { high: 90, low: 80, break: 80 },
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/mutation${suffix}.html` },
  jsonReporter: { fileName: `reports/mutation/mutation${suffix}.json` },
  // Results of unchanged mutants and tests are reused from the last run.
  incremental: true,
  incrementalFile: `reports/mutation/stryker-incremental${suffix}.json`,
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
