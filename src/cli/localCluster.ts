import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Config } from '../config.ts'
import { TwinError } from '../errors.ts'
import { startRedisOrInstall } from '../embedded/aptInstall.ts'
import type { Logger } from '../observability/log.ts'

const BIN = join(dirname(fileURLToPath(import.meta.url)), '../../bin/twin.js')

/**
 * `twin cluster --workers N`: the production shape on one machine. A managed
 * redis-server, one front process (ingest + api, with the embedded broker and
 * the demo fleet) and N worker processes, each a plain `twin start --role …`
 * with REDIS_URL / MQTT_URL pointing at the shared ones. Ctrl-C stops them all.
 * Kill a worker (`kill -9 <pid>`) and watch `GET /cluster` hand its shards on.
 */
export async function runLocalCluster(config: Config, workers: number, log: Logger): Promise<void> {
  const redis = await startRedisOrInstall(config.dataDir, config.autoInstallRedis, log)
  const children: ChildProcess[] = []
  // Workers log in to the front's embedded broker (when DEVICE_CREDENTIALS_FILE is set) with one password made here.
  const shared = { REDIS_URL: redis.url, LOG_LEVEL: config.logLevel, HTTP_HOST: config.httpHost, MQTT_PASSWORD: config.mqttPassword ?? randomBytes(24).toString('base64url') }
  // Access settings go to the front (the api process), flags included.
  const access: Record<string, string> = { AUTH: config.auth }
  if (config.apiTokens) access.API_TOKENS = config.apiTokens
  if (config.apiTokensFile) access.API_TOKENS_FILE = config.apiTokensFile
  if (config.deviceCredentialsFile) access.DEVICE_CREDENTIALS_FILE = config.deviceCredentialsFile
  const run = (name: string, env: Record<string, string>) => {
    const child = spawn(process.execPath, [BIN, 'start'], { env: { ...process.env, ...shared, ...env }, stdio: ['ignore', 'inherit', 'inherit'] })
    children.push(child)
    log.info({ process: name, pid: child.pid }, 'started')
    child.on('exit', (code, signal) => log.warn({ process: name, pid: child.pid, code, signal }, 'exited'))
    return child
  }

  run('front', { ...access, TWIN_ROLES: 'ingest,api', MQTT_PORT: String(config.mqttPort), HTTP_PORT: String(config.httpPort) })
  const health = `http://${config.httpHost}:${config.httpPort}/health`
  for (let i = 0; ; i++) {
    if ((await fetch(health).catch(() => null))?.ok) break
    if (i > 200) throw new TwinError('TWIN_ERR_INTERNAL', `the front process did not answer ${health} within 20 s; its output is above`)
    await new Promise((r) => setTimeout(r, 100))
  }
  for (let i = 1; i <= workers; i++) {
    // HTTP_PORT 0: each worker's ops endpoints (/health, /ready, /metrics) on a free port of its own.
    run(`worker-${i}`, { TWIN_ROLES: 'worker', MQTT_URL: `mqtt://127.0.0.1:${config.mqttPort}`, MQTT_PROTOCOL: '4', HTTP_PORT: '0' })
  }
  log.info({ http: `http://${config.httpHost}:${config.httpPort}`, cluster: `http://${config.httpHost}:${config.httpPort}/cluster`, workers }, 'local cluster running; Ctrl-C stops it')

  await new Promise<void>((resolve) => {
    const stop = () => resolve()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  await Promise.all(
    children.map((child) => new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
    })),
  )
  await redis.stop()
}
