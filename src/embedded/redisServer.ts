import { spawn, type ChildProcess } from 'node:child_process'
import { accessSync, constants as fsConstants, closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { delimiter, join, resolve } from 'node:path'
import { TwinError } from '../errors.ts'

/**
 * A redis-server owned by the engine in local ("one command") mode. Its data
 * lives in `<dataDir>/redis/`; AOF is the only persistence.
 */
export interface ManagedRedis {
  readonly url: string
  readonly port: number
  readonly adopted: boolean
  /** resolves (saying how) when the server exits; polled for an adopted one */
  readonly exited: Promise<string>
  stop(): Promise<void>
}

export interface ManagedRedisOptions {
  dataDir: string
  /** 0 or undefined: reuse the port recorded in `<dataDir>/redis/port`, else a free one. */
  port?: number
  logger?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void }
  appendfsync?: 'always' | 'everysec' | 'no'
  /** The PATH searched for redis-server (default: this process's PATH). */
  searchPath?: string
}

const HOST = '127.0.0.1'
const READY_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 10_000

export function redisInstallHint(): string {
  return [
    'Install Redis 7 and make sure redis-server is on PATH:',
    '  Debian/Ubuntu: sudo apt-get install redis-server',
    '  macOS:         brew install redis',
    '  or run one in a container and point REDIS_URL at it: docker run -p 6379:6379 redis:7',
  ].join('\n')
}

export async function startManagedRedis(options: ManagedRedisOptions): Promise<ManagedRedis> {
  const binary = findOnPath('redis-server', options.searchPath ?? process.env.PATH ?? '')
  if (!binary) {
    throw new TwinError('TWIN_ERR_REDIS_SERVER_MISSING', `redis-server was not found on PATH.\n${redisInstallHint()}`)
  }
  const dir = resolve(options.dataDir, 'redis')
  mkdirSync(dir, { recursive: true })
  const files = { conf: join(dir, 'redis.conf'), pid: join(dir, 'redis.pid'), log: join(dir, 'redis.log'), stderr: join(dir, 'redis.stderr.log'), port: join(dir, 'port') }
  const recordedPort = readInt(files.port)

  // An engine killed with SIGKILL leaves its redis-server running. Starting a
  // second one on the same dir would have two writers on one AOF, so adopt it.
  // INFO's process_id must equal the pid file: a live pid alone can be a
  // recycled pid, and a PING alone can be some other redis on that port.
  const pid = readInt(files.pid)
  if (pid && recordedPort && isAlive(pid) && (await redisPid(recordedPort)) === pid) {
    options.logger?.info({ pid, port: recordedPort, dir }, 'adopted a redis-server left running by a previous engine')
    return handle(recordedPort, true, pid, undefined, options.logger)
  }

  let port = options.port || recordedPort
  if (port && port === recordedPort && !options.port && !(await isPortFree(port))) {
    options.logger?.warn({ port }, 'the recorded redis port is taken by another program; choosing a new one')
    port = undefined
  }
  port ||= await freePort()
  writeFileSync(files.port, `${port}\n`)
  writeFileSync(files.conf, config({ dir, port, files, appendfsync: options.appendfsync ?? 'everysec' }))

  // Its stderr goes to a file, not a pipe: config errors are printed there
  // before the logfile is open, and a pipe would break when the engine dies.
  const stderrFd = openSync(files.stderr, 'w')
  let child: ChildProcess
  try {
    // detached: its own process group, so a Ctrl-C meant for the engine does
    // not also stop Redis while the engine is still flushing to it; the engine
    // stops it last, through stop().
    child = spawn(binary, [files.conf], { cwd: dir, detached: true, stdio: ['ignore', 'ignore', stderrFd] })
  } finally {
    closeSync(stderrFd)
  }
  const exited = new Promise<string>((done) => {
    child.once('exit', (code, signal) => done(`exited with ${signal ?? `code ${code}`}`))
    child.once('error', (err) => done(`failed to spawn: ${err.message}`))
  })
  const ready = await Promise.race([waitReady(port, child), exited])
  if (ready !== true) {
    child.kill('SIGKILL')
    throw new TwinError('TWIN_ERR_REDIS_SERVER_FAILED',
      `redis-server on port ${port} ${ready}. Its log (${files.log}) ends with:\n${logTail(files)}`,
      { port, dir })
  }
  options.logger?.info({ pid: child.pid, port, dir }, 'started managed redis-server')
  return handle(port, false, child.pid!, exited, options.logger)
}

function handle(port: number, adopted: boolean, pid: number, exited: Promise<string> | undefined, logger: ManagedRedisOptions['logger']): ManagedRedis {
  let stopping: Promise<void> | undefined
  // Everything the engine accepted is in this Redis: dying under it is loud.
  const gone = exited ?? pollExit(pid, Infinity).then(() => 'exited')
  void gone.then((how) => { if (!stopping) logger?.warn({ pid, port, how }, 'managed redis-server exited unexpectedly') })
  return {
    url: `redis://${HOST}:${port}`,
    port,
    adopted,
    exited: gone,
    stop: () => (stopping ??= stopProcess(port, pid, exited)),
  }
}

async function stopProcess(port: number, pid: number, exited: Promise<string> | undefined): Promise<void> {
  const gone = exited ? exited.then(() => true) : pollExit(pid)
  // SHUTDOWN (not a signal) first: Redis then fsyncs the AOF before exiting.
  // On success it closes the connection without a reply.
  const reply = await command(port, ['SHUTDOWN'], 2000).catch(() => undefined)
  if (reply !== null) signal(pid, 'SIGTERM')
  if (await within(gone, STOP_TIMEOUT_MS)) return
  signal(pid, 'SIGKILL')
  await within(gone, 2000)
}

function config(c: { dir: string; port: number; files: { pid: string; log: string }; appendfsync: string }): string {
  const q = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
  return [
    '# Written by twin-engine on every start; edits here are overwritten.',
    `port ${c.port}`,
    `bind ${HOST}`,
    'protected-mode yes',
    'daemonize no',
    `dir ${q(c.dir)}`,
    `pidfile ${q(c.files.pid)}`,
    `logfile ${q(c.files.log)}`,
    'appendonly yes',
    `appendfsync ${c.appendfsync}`,
    // AOF is the persistence; RDB snapshots would only add fork pauses.
    'save ""',
    '',
  ].join('\n')
}

/** Polls until PING answers PONG (not LOADING) from this very process; else says why not. */
async function waitReady(port: number, child: ChildProcess): Promise<true | string> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  let why = `did not answer PING within ${READY_TIMEOUT_MS} ms`
  while (Date.now() < deadline && child.exitCode === null && child.signalCode === null) {
    const pong = await command(port, ['PING'], 500).catch(() => undefined)
    // Another server already on this port answers too, while ours fails to
    // bind: keep waiting, so its exit (and the log saying why) wins the race.
    if (pong === 'PONG' && (await redisPid(port)) === child.pid) return true
    if (pong === 'PONG') why = 'did not start: another redis-server answers on this port'
    await sleep(50)
  }
  return why
}

async function redisPid(port: number): Promise<number | undefined> {
  const info = await command(port, ['INFO', 'server'], 1000).catch(() => undefined)
  const m = info && /^process_id:(\d+)/m.exec(info)
  return m ? Number(m[1]) : undefined
}

/**
 * One RESP command on a fresh connection. A raw socket rather than ioredis:
 * no reconnects or offline queue to disable, and it only needs +, - and $
 * replies. Resolves null when the server closes without replying (SHUTDOWN).
 */
function command(port: number, args: string[], timeoutMs: number): Promise<string | null> {
  return new Promise((done, fail) => {
    const socket = createConnection({ host: HOST, port })
    let buf = Buffer.alloc(0)
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('redis command timed out')))
    socket.on('error', fail)
    socket.on('close', () => done(null))
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk])
      const eol = buf.indexOf('\r\n')
      if (eol < 0) return
      const head = buf.subarray(1, eol).toString()
      if (buf[0] === 0x2b) done(head)
      else if (buf[0] === 0x2d) fail(new Error(head))
      else if (buf[0] === 0x24 && buf.length >= eol + 2 + Number(head)) done(buf.subarray(eol + 2, eol + 2 + Number(head)).toString())
      else return
      socket.end()
    })
    socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`)
  })
}

function findOnPath(name: string, searchPath: string): string | undefined {
  for (const d of searchPath.split(delimiter)) {
    if (!d) continue
    try {
      accessSync(join(d, name), fsConstants.X_OK)
      return join(d, name)
    } catch { /* not in this directory */ }
  }
  return undefined
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer()
    srv.once('error', fail)
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => done(port))
    })
  })
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const srv = createServer()
    srv.once('error', () => done(false))
    srv.listen(port, HOST, () => srv.close(() => done(true)))
  })
}

/** Whether a process of ours with this pid is running. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    // EPERM: alive but not ours to signal, so not ours to adopt either.
    return false
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig) } catch { /* already gone */ }
}

/** An adopted server is not our child, so there is no exit event: poll. */
async function pollExit(pid: number, withinMs = STOP_TIMEOUT_MS + 5000): Promise<boolean> {
  const deadline = Date.now() + withinMs
  while (isAlive(pid) && Date.now() < deadline) await sleep(withinMs === Infinity ? 250 : 50)
  return !isAlive(pid)
}

async function within(p: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((done) => { timer = setTimeout(() => done(false), ms) })
  const result = await Promise.race([p, timeout])
  clearTimeout(timer)
  return result
}

function readInt(file: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10)
    return Number.isInteger(n) && n > 0 ? n : undefined
  } catch {
    return undefined
  }
}

function logTail(files: { log: string; stderr: string }, lines = 20): string {
  const tail = (f: string): string[] => {
    try { return readFileSync(f, 'utf8').split('\n').filter(Boolean).slice(-lines) } catch { return [] }
  }
  const out = [...tail(files.stderr), ...tail(files.log)]
  return out.length ? out.join('\n') : '(empty)'
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms))
