import { defineConfig } from 'vitest/config'

/**
 * Two projects over the same tests: `standalone` runs everything against one
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
      { test: { ...shared, name: 'standalone', include: ['test/**/*.test.ts'] } },
      {
        test: {
          ...shared,
          name: 'cluster',
          include: ['test/worker/**/*.test.ts', 'test/cluster/**/*.test.ts', 'test/api/**/*.test.ts', 'test/ingest/ingestor.test.ts', 'test/e2e/cluster.test.ts', 'test/effects/webhooks.test.ts'],
        },
      },
    ],
  },
})
