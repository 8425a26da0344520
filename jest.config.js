/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  globalSetup: '<rootDir>/test/setup/globalSetup.ts',
  globalTeardown: '<rootDir>/test/setup/globalTeardown.ts',
  // Every integration test starts real servers; a slow cold JVM or Go build must not flake them.
  testTimeout: 120_000,
  // Two cores: files run two at a time, each with its own database and (time-skipping) server.
  maxWorkers: 2,
};
