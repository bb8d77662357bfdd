import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'
import { execFileSync } from 'node:child_process'
import { aptInstall, canAptInstall } from '../../src/embedded/aptInstall.ts'
import { startManagedRedis } from '../../src/embedded/redisServer.ts'
import { startLocalRedisCluster } from './redisCluster.ts'

/** The real servers the suite runs against, by the Debian package that provides them. */
const NEEDED: Record<string, string> = { 'redis-server': 'redis-server', mosquitto: 'mosquitto', mosquitto_pub: 'mosquitto-clients', 'nats-server': 'nats-server', openssl: 'openssl' }

function missingPackages(): string[] {
  return Object.entries(NEEDED)
    .filter(([command]) => {
      try {
        execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
        return false
      } catch {
        return true
      }
    })
    .map(([, pkg]) => pkg)
}

/**
 * Makes sure redis-server and mosquitto exist (installing them with apt-get on
 * a fresh Debian machine as root), then starts one real redis-server for the
 * test run and hands its URL to every test file.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const missing = missingPackages()
  if (missing.length) {
    if (!canAptInstall()) {
      throw new Error(`the tests need real servers: install ${missing.join(' ')} (Debian/Ubuntu: apt-get install ${missing.join(' ')}; macOS: brew install redis mosquitto)`)
    }
    console.log(`installing ${missing.join(' ')} with apt-get for the test suite`)
    aptInstall(missing)
  }
  // The `cluster` project runs the same suites against a local 3-master Redis Cluster.
  if (project.name === 'cluster') {
    const cluster = await startLocalRedisCluster()
    project.provide('redisUrl', cluster.url)
    project.provide('redisCluster', true)
    return () => cluster.stop()
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'twin-test-redis-'))
  const redis = await startManagedRedis({ dataDir, appendfsync: 'no' })
  project.provide('redisUrl', redis.url)
  project.provide('redisCluster', false)
  return async () => {
    await redis.stop()
    rmSync(dataDir, { recursive: true, force: true })
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string
    redisCluster: boolean
  }
}
