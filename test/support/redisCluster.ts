import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { freePort } from './env.ts'

const run = promisify(execFile)

export interface LocalRedisCluster {
  /** comma-separated seed nodes, as REDIS_URL takes them with REDIS_CLUSTER=true */
  url: string
  stop(): Promise<void>
}

/**
 * A real 3-master Redis Cluster on loopback: three `redis-server
 * --cluster-enabled yes` processes joined with `redis-cli --cluster create`.
 */
export async function startLocalRedisCluster(masters = 3): Promise<LocalRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'twin-redis-cluster-'))
  const ports: number[] = []
  const children: ChildProcess[] = []
  for (let i = 0; i < masters; i++) {
    const port = await freePort()
    const nodeDir = join(dir, String(port))
    mkdirSync(nodeDir)
    ports.push(port)
    children.push(
      spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
        '--dir', nodeDir, '--appendonly', 'no', '--save', ''], { stdio: 'ignore' }),
    )
  }
  const stop = async () => {
    for (const child of children) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    for (const port of ports) await waitForPing(port)
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'])
    for (const port of ports) await waitForClusterOk(port)
  } catch (err) {
    await stop()
    throw err
  }
  return { url: ports.map((p) => `redis://127.0.0.1:${p}`).join(','), stop }
}

async function waitForPing(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const redis = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
    try {
      await redis.connect()
      await redis.ping()
      return
    } catch {
      await new Promise((r) => setTimeout(r, 50))
    } finally {
      redis.disconnect()
    }
  }
  throw new Error(`redis-server on ${port} did not start`)
}

async function waitForClusterOk(port: number): Promise<void> {
  const redis = new Redis(port, '127.0.0.1')
  try {
    for (let i = 0; i < 200; i++) {
      if ((await redis.cluster('INFO')).includes('cluster_state:ok')) return
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`redis cluster node ${port} never reached cluster_state:ok`)
  } finally {
    redis.disconnect()
  }
}
