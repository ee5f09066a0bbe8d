/** The jest run Stryker uses (stryker.config.mjs): the tests that exercise the guarded modules and
 * start no PostgreSQL. Same transform and timeout as jest.config.js. */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
module.exports = {
  testTimeout: 180000,
  testEnvironment: 'node',
  rootDir: __dirname,
  transform: { '^.+\\.ts$': ['ts-jest', { isolatedModules: true, diagnostics: false }] },
  testMatch: [
    // tiers, manifest, catalog, freshness
    '<rootDir>/test/unit/tiers.test.ts',
    '<rootDir>/test/unit/manifest.test.ts',
    '<rootDir>/test/unit/freshness.test.ts',
    '<rootDir>/test/integration/catalog.test.ts',
    '<rootDir>/test/integration/freshness.test.ts',
  ],
};
