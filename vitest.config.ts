import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.spec.ts', 'test/**/*.spec.ts'],
    // Real-server and whole-process suites need room: SQLite fsyncs, child processes, brokers.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: keep file-level parallelism modest so crash and load tests are not starved.
    maxWorkers: 2,
    pool: 'forks',
  },
});
