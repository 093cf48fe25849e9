/** Type-checking is done once by `tsc --noEmit`; ts-jest only transpiles, which keeps the suite fast. */
module.exports = {
  // Node's environment with a temporary directory per test file, removed after the file; one per run
  // around them, checked empty at the end (test/support/temp-dir-*.js).
  testEnvironment: "<rootDir>/test/support/temp-dir-environment.js",
  globalSetup: "<rootDir>/test/support/global-setup.js",
  globalTeardown: "<rootDir>/test/support/global-teardown.js",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { diagnostics: false }],
  },
  // Two cores on CI: run test files in parallel on both.
  maxWorkers: 2,
  verbose: true,
  setupFilesAfterEnv: ["<rootDir>/test/support/setup-cdktf.ts", "<rootDir>/test/support/scratch-cleanup.ts"],
  testTimeout: 60000,
  // aws-crt (the device SDK's native core) keeps Node's event loop alive for up to a minute after its
  // MQTT clients are closed (awslabs/aws-crt-nodejs#600); every test closes its clients and servers itself.
  forceExit: true,
};
