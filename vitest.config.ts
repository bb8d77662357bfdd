import { defineConfig } from 'vitest/config'

/**
 * `core` runs the pure core's unit tests with no servers at all. Two projects
 * over the same tests: `standalone` runs everything else against one
 * real redis-server; `cluster` runs the suites that touch Redis semantics
 * (runtime, scale-out, API, multi-process chaos, the webhook queue) against a local 3-master
 * Redis Cluster. Every test uses its own key prefix.
 */
const shared = {
  globalSetup: ['test/support/globalSetup.ts'],
  pool: 'forks' as const,
  testTimeout: 30_000,
  hookTimeout: 30_000,
}

export default defineConfig({
  test: {
    projects: [
      // The pure core: no Redis, no broker, no global setup.
      { test: { name: 'core', include: ['test/core/**/*.test.ts'], pool: 'forks' } },
      { test: { ...shared, name: 'standalone', include: ['test/**/*.test.ts'], exclude: ['test/core/**'] } },
      {
        test: {
          ...shared,
          name: 'cluster',
          include: ['test/worker/**/*.test.ts', 'test/cluster/**/*.test.ts', 'test/api/**/*.test.ts', 'test/ingest/ingestor.test.ts', 'test/ingest/inputIngest.test.ts', 'test/e2e/cluster.test.ts', 'test/effects/webhooks.test.ts'],
        },
      },
    ],
  },
})
