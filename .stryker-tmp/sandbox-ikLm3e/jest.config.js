/** Two projects: fast unit tests (CDK assertions, pure core) and integration tests that start
 * their own PostgreSQL clusters and a local S3 server. `npm test` runs both. */
// @ts-nocheck

// The AWS SDK warns about Node 20 on every client; tests run on 20, Lambda on 22.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const tsJest = ['ts-jest', { isolatedModules: true, diagnostics: false }];
module.exports = {
  // Integration tests start PostgreSQL clusters and run real pg_dump/pg_restore.
  testTimeout: 180000,
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/unit'],
      transform: { '^.+\\.ts$': tsJest },
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/integration'],
      transform: { '^.+\\.ts$': tsJest },
    },
  ],
};
