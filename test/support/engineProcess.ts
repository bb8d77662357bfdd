import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, ROOT, waitFor } from './env.ts'

/** The engine as a real child process (`node bin/twin.js start`), on its own ports and data dir. */
export class EngineProcess {
  child: ChildProcess | null = null
  output = ''
  readonly dataDir = mkdtempSync(join(tmpdir(), 'twin-e2e-'))
  httpPort = 0
  mqttPort = 0
  /** how start() knows the engine is up; default: GET /health over plain HTTP answers 2xx */
  healthCheck?: () => Promise<boolean>

  constructor(
    private readonly env: Record<string, string> = {},
    private readonly nodeArgs: string[] = [],
  ) {}

  get httpUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`
  }

  get mqttUrl(): string {
    return `mqtt://127.0.0.1:${this.mqttPort}`
  }

  async start(): Promise<void> {
    if (!this.httpPort) {
      this.httpPort = await freePort()
      this.mqttPort = await freePort()
    }
    const child = spawn(process.execPath, [...this.nodeArgs, join(ROOT, 'bin/twin.js'), 'start'], {
      cwd: ROOT,
      env: {
        ...process.env,
        DATA_DIR: this.dataDir,
        HTTP_PORT: String(this.httpPort),
        MQTT_PORT: String(this.mqttPort),
        DEMO: '0',
        LEASE_TTL_MS: '1000',
        LOG_LEVEL: 'warn',
        // Tests of the API's access control pass AUTH=tokens and API_TOKENS in env.
        AUTH: 'open',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.child = child
    child.stdout!.on('data', (d) => (this.output += d))
    child.stderr!.on('data', (d) => (this.output += d))
    await waitFor(`engine health on ${this.httpUrl}`, async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`engine exited ${child.exitCode}: ${this.output.slice(-2000)}`)
      if (this.healthCheck) return this.healthCheck()
      const res = await fetch(`${this.httpUrl}/health`).catch(() => null)
      return res?.ok
    }, 20_000)
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
    return new Promise((resolve) => {
      child.once('exit', () => resolve())
      child.kill(signal)
    })
  }

  async get(path: string): Promise<any> {
    const res = await fetch(`${this.httpUrl}${path}`)
    return res.ok ? res.json() : null
  }

  /** Stops the engine and whatever redis-server it left behind, and removes its data. */
  async destroy(): Promise<void> {
    await this.kill('SIGTERM')
    try {
      process.kill(Number(readFileSync(join(this.dataDir, 'redis', 'redis.pid'), 'utf8')), 'SIGKILL')
    } catch {
      // already stopped with the engine
    }
    rmSync(this.dataDir, { recursive: true, force: true })
  }
}
