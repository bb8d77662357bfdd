import { spawn, type ChildProcess } from 'node:child_process'
import { createConnection } from 'node:net'
import { waitFor } from './env.ts'

export interface ServerProcess {
  child: ChildProcess
  /** signals the server and waits for it to exit (SIGTERM: let it save, e.g. mosquitto's persistence) */
  stop(signal?: NodeJS.Signals): Promise<void>
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true) })
    s.on('error', () => resolve(false))
  })
}

/** Starts a real server (mosquitto, redis-server, nats-server …) and waits until it listens on `port`; fails with its stderr. */
export async function startServer(command: string, args: string[], port: number): Promise<ServerProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr!.on('data', (d) => (err += d))
  let failed: string | undefined
  child.once('error', (e) => (failed = `${command} could not start: ${e.message}`))
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  await waitFor(`${command} listening on ${port}`, async () => {
    if (failed) throw new Error(failed)
    if (child.exitCode !== null) throw new Error(`${command} exited: ${err}`)
    return listening(port)
  })
  return {
    child,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill(signal)
      await exited
    },
  }
}
