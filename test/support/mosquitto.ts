import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './env.ts'

export interface Mosquitto {
  port: number
  url: string
  pid: number
  stop(): Promise<void>
}

/** Global options of mosquitto.conf (name → value), in place of the defaults below. */
export type MosquittoSettings = Record<string, string | number | boolean>

const DEFAULT_SETTINGS: MosquittoSettings = {
  allow_anonymous: true,
  persistence: false,
  // Room for a burst of QoS 1 to one subscriber, and for everything queued
  // while a persistent-session subscriber is offline.
  max_inflight_messages: 1000,
  max_queued_messages: 100_000,
}

/** How long mosquitto gets to accept a TCP connection before the start fails. */
const START_TIMEOUT_MS = 5_000

/**
 * Starts a real mosquitto on 127.0.0.1 with a throwaway config, for tests
 * that must see a real external broker (persistent sessions, queued QoS 1,
 * MQTT 5 properties) rather than the embedded aedes, and for the load tool's
 * `--broker mosquitto`. A process that exits without stop() (an uncaught
 * error, process.exit) still kills it and removes its folder.
 */
export async function startMosquitto(settings: MosquittoSettings = {}): Promise<Mosquitto> {
  if (spawnSync('sh', ['-c', 'command -v mosquitto']).status !== 0) {
    throw new Error('mosquitto is not on PATH: install it with `apt-get install mosquitto mosquitto-clients`')
  }
  const dir = mkdtempSync(join(tmpdir(), 'twin-test-mosquitto-'))
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, [
    `listener ${port} 127.0.0.1`,
    ...Object.entries({ ...DEFAULT_SETTINGS, ...settings }).map(([name, value]) => `${name} ${value}`),
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n'))

  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  // 'exit' or 'error' (spawn failed): either way the process is gone.
  let gone: string | undefined
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      gone = `exit ${code ?? signal}`
      resolve()
    })
    child.once('error', (err) => {
      gone = err.message
      resolve()
    })
  })

  const atExit = () => {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }
  process.once('exit', atExit)
  const stop = async (): Promise<void> => {
    process.off('exit', atExit)
    if (gone === undefined) {
      child.kill('SIGTERM')
      const killed = setTimeout(() => child.kill('SIGKILL'), 2_000)
      await exited
      clearTimeout(killed)
    }
    rmSync(dir, { recursive: true, force: true })
  }

  const deadline = Date.now() + START_TIMEOUT_MS
  for (;;) {
    if (gone !== undefined) {
      await stop()
      throw new Error(`mosquitto stopped (${gone}) before listening on ${port}: ${stderr.trim()}`)
    }
    if (await canConnect(port)) break
    if (Date.now() > deadline) {
      await stop()
      throw new Error(`mosquitto did not listen on ${port} within ${START_TIMEOUT_MS} ms: ${stderr.trim()}`)
    }
    await new Promise((r) => setTimeout(r, 20))
  }
  return { port, url: `mqtt://127.0.0.1:${port}`, pid: child.pid!, stop }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => {
      socket.destroy()
      resolve(false)
    })
  })
}
