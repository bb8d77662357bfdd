import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import type { Logger } from 'pino'
import { isTwinError } from '../errors.ts'
import { startManagedRedis, type ManagedRedis } from './redisServer.ts'

/** True on a Debian/Ubuntu machine where we are root: a fresh container or VM. */
export function canAptInstall(): boolean {
  return process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')
}

/** Installs Debian packages with apt-get (non-interactive). */
export function aptInstall(packages: string[]): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env })
  execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env })
}

/**
 * Starts the managed redis-server; when it is missing and apt-get can install
 * it, installs it first, so the README's first command works on a fresh
 * Debian/Ubuntu machine as written. Anywhere else the error says how to
 * install it.
 */
export async function startRedisOrInstall(dataDir: string, autoInstall: boolean, log: Logger): Promise<ManagedRedis> {
  try {
    return await startManagedRedis({ dataDir, logger: log })
  } catch (err) {
    if (!isTwinError(err) || err.code !== 'TWIN_ERR_REDIS_SERVER_MISSING' || !autoInstall || !canAptInstall()) throw err
    log.warn('redis-server is missing; installing it with apt-get (AUTO_INSTALL_REDIS=false prevents this)')
    aptInstall(['redis-server'])
    return startManagedRedis({ dataDir, logger: log })
  }
}
