import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { desiredOwner } from '../../src/cluster/rendezvous.ts'
import { startManagedRedis } from '../../src/embedded/redisServer.ts'
import { EngineProcess } from './engineProcess.ts'
import { FIXTURE_RULES, FIXTURE_TWINS, redisCluster, redisUrl, ROOT, waitFor } from './env.ts'

/**
 * A multi-process engine on one machine, as in production: one front process
 * (ingest + api, with the embedded broker) and worker processes, all sharing
 * one real redis-server. Workers can be killed, paused, restarted and added.
 */
export class LocalCluster {
  redis!: { url: string; stop(): Promise<void> }
  /** the run's Redis Cluster (cluster test project), shared with other tests under their own prefixes */
  private readonly shared = redisCluster()
  readonly env: Record<string, string>
  front!: EngineProcess
  readonly workers: Array<{ child: ChildProcess; output: string }> = []
  private readonly dir = mkdtempSync(join(tmpdir(), 'twin-cluster-'))

  constructor(env: Record<string, string> = {}) {
    // LEASE_TTL_MS: short enough for quick failover in tests, long enough that two
    // clusters sharing two cores (both test projects at once) keep their leases.
    this.env = { KEY_PREFIX: `c${randomUUID().slice(0, 8)}:`, REDIS_CLUSTER: String(this.shared), LEASE_TTL_MS: '2000', ...env }
  }

  async start(workers: number): Promise<void> {
    this.redis = this.shared ? { url: redisUrl(), stop: async () => {} } : await startManagedRedis({ dataDir: this.dir })
    this.front = new EngineProcess({ REDIS_URL: this.redis.url, TWIN_ROLES: 'ingest,api', TWINS_DIR: FIXTURE_TWINS, RULES_DIR: FIXTURE_RULES, ...this.env })
    await this.front.start()
    for (let i = 0; i < workers; i++) this.spawnWorker()
    await this.waitForWorkers(workers)
  }

  /** Starts a worker process; `env` overrides the cluster's (another TWINS_DIR in a rollout). */
  spawnWorker(env: Record<string, string> = {}): number {
    const child = spawn(process.execPath, [join(ROOT, 'bin/twin.js'), 'start'], {
      cwd: ROOT,
      env: {
        ...process.env,
        REDIS_URL: this.redis.url,
        MQTT_URL: this.front.mqttUrl,
        MQTT_PROTOCOL: '4',
        TWIN_ROLES: 'worker',
        HTTP_PORT: '0',
        TWINS_DIR: FIXTURE_TWINS,
        RULES_DIR: FIXTURE_RULES,
        LOG_LEVEL: 'warn',
        ...this.env,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const entry = { child, output: '' }
    child.stdout!.on('data', (d) => (entry.output += d))
    child.stderr!.on('data', (d) => (entry.output += d))
    this.workers.push(entry)
    return this.workers.length - 1
  }

  /** Waits until `n` workers are live and every shard is with the owner rendezvous hashing gives it. */
  async waitForWorkers(n: number, timeoutMs = 45_000): Promise<void> {
    await waitFor(`${n} live workers owning their shards`, async () => {
      const status = await this.front.get('/cluster')
      if (!status || status.workers.length !== n) return false
      const live = status.workers.map((w: { id: string }) => w.id)
      return status.shards.every((s: { shard: number; owner: string | null }) => s.owner === desiredOwner(s.shard, live))
    }, timeoutMs)
  }

  /** Indexes of the worker processes still running. */
  get alive(): number[] {
    return this.workers.flatMap((w, i) => (w.child.exitCode === null && w.child.signalCode === null ? [i] : []))
  }

  kill(i: number, signal: NodeJS.Signals): Promise<void> {
    const { child } = this.workers[i]!
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      child.kill(signal)
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      child.once('exit', () => resolve())
      child.kill(signal)
    })
  }

  get output(): string {
    return this.workers.map((w) => w.output).join('\n')
  }

  async stop(): Promise<void> {
    for (const w of this.workers) {
      w.child.kill('SIGCONT')
      w.child.kill('SIGKILL')
    }
    await this.front?.destroy()
    await this.redis?.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}
