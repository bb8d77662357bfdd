import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { startManagedRedis } from '../../src/embedded/redisServer.ts'

/** Starts one real redis-server for the test run and hands its URL to every test file. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'twin-test-redis-'))
  const redis = await startManagedRedis({ dataDir, appendfsync: 'no' })
  project.provide('redisUrl', redis.url)
  return async () => {
    await redis.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string
  }
}
