/**
 * Reference "in-memory": the engine's pipeline with nothing durable in it.
 * MQTT (the same embedded aedes and the same validation as the engine) -> one
 * XState actor per device in a Map -> WebSocket changes in the engine's JSON
 * shape. No Redis, no PUBACK hold, no shards: the fair upper bound for what
 * the engine does, measured in the same run (load/ issue: "every engine
 * figure comes with references").
 *
 * With `--mqtt-url` it runs no broker and is instead a QoS 1 subscriber of an
 * external one (`devices/#`), as a Node-RED flow is (MQTT in -> a function
 * with per-device context -> WebSocket out); the work per message is the same.
 *
 *   node --import tsx load/reference/inMemoryEngine.ts --mqtt-port 0 --http-port 0
 *   node --import tsx load/reference/inMemoryEngine.ts --mqtt-url mqtt://127.0.0.1:1883 --http-port 0
 *
 * stdout: exactly one line `READY {"mqttPort":N,"httpPort":N}` once both listen
 * (mqttPort 0 with `--mqtt-url`: no broker here).
 * SIGTERM/SIGINT: stops everything and exits 0.
 */
import { createServer } from 'node:http'
import { fileURLToPath } from 'node:url'
import { Command, InvalidArgumentError } from 'commander'
import { WebSocketServer, type WebSocket } from 'ws'
import { createActor, type Actor, type AnyStateMachine } from 'xstate'
import { settings } from '../../src/config.ts'
import { loadTwinRegistry } from '../../src/definitions/registry.ts'
import { parsePayload, validateEvent } from '../../src/definitions/validate.ts'
import { startEmbeddedBroker } from '../../src/embedded/broker.ts'

const HOST = '127.0.0.1'
// Same limits as the engine (src/config.ts, src/api/ws/schemas.ts LIMITS, src/api/ws/options.ts), so both refuse the same input.
const MAX_PAYLOAD_BYTES = settings.maxPayloadBytes.default
const MAX_WS_MESSAGE_BYTES = 64 * 1024
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024
const SNAPSHOT_PAGE = 500

const port = (raw: string): number => {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port, 0-65535')
  return n
}
const options = new Command()
  .option('--mqtt-port <n>', 'MQTT port (0: a free port)', port, 0)
  .option('--mqtt-url <url>', 'subscribe to this external broker instead of running aedes')
  .option('--http-port <n>', 'HTTP and WebSocket port (0: a free port)', port, 0)
  .option('--twins <dir>', 'folder of twin definitions', fileURLToPath(new URL('../../twins', import.meta.url)))
  .parse()
  .opts<{ mqttPort: number; mqttUrl?: string; httpPort: number; twins: string }>()

interface Twin { type: string; id: string; actor: Actor<AnyStateMachine>; last: unknown; rev: number; updatedAt: number }
interface Sub { socket: WebSocket; type: string; ids: Set<string> | null; prefix: string }

const registry = await loadTwinRegistry(options.twins)
/** type -> id -> twin: a subscribe lists one type without scanning the others. */
const twins = new Map<string, Map<string, Twin>>()
const subsByType = new Map<string, Set<Sub>>()
const stats = { twins: 0, changes: 0, deadLetters: 0 }
/** `at` of the device event being applied; undefined while a timer fires. */
let applyingAt: number | undefined

function viewOf(twin: Twin) {
  const snapshot = twin.actor.getSnapshot()
  return { type: twin.type, id: twin.id, value: snapshot.value, context: snapshot.context, rev: twin.rev, updatedAt: twin.updatedAt }
}

function sendText(socket: WebSocket, text: string): void {
  if (socket.readyState !== socket.OPEN) return
  // As the engine: a client that does not read is closed, not buffered without bound.
  if (socket.bufferedAmount > MAX_BUFFERED_BYTES) socket.close(1013, 'client too slow: over 16 MB of updates unread')
  else socket.send(text)
}

function broadcast(twin: Twin): void {
  const subs = subsByType.get(twin.type)
  if (!subs || subs.size === 0) return
  // Serialised once for every socket, as the engine's toJson cache does.
  const json = JSON.stringify(viewOf(twin))
  for (const sub of subs) if (!sub.ids || sub.ids.has(twin.id)) sendText(sub.socket, `${sub.prefix}${json}}`)
}

function twinOf(type: string, id: string, machine: AnyStateMachine): Twin {
  const byId = twins.get(type) ?? new Map<string, Twin>()
  if (byId.size === 0) twins.set(type, byId)
  const existing = byId.get(id)
  if (existing) return existing
  const actor = createActor(machine, { input: { type, id } })
  // Before start, so the initial snapshot is not a change: as in the engine, rev 1 is the first event.
  const created: Twin = { type, id, actor, last: actor.getSnapshot(), rev: 0, updatedAt: 0 }
  // Subscribing rather than comparing around send() also catches changes made
  // by the machine's own timers (offline watchdog, `after`), which the engine
  // broadcasts too. XState hands back the same snapshot object when an event
  // changed nothing, so identity says whether to count a change.
  actor.subscribe({
    next: (snapshot) => {
      if (snapshot === created.last) return
      created.last = snapshot
      created.rev++
      created.updatedAt = applyingAt ?? Date.now()
      stats.changes++
      broadcast(created)
    },
    // A machine that throws is refused input, as the engine's worker dead-letters it;
    // dropping the broken actor lets the next event start afresh.
    error: () => {
      stats.deadLetters++
      byId.delete(id)
      stats.twins--
    },
  })
  byId.set(id, created)
  stats.twins++
  actor.start()
  return created
}

/** One device publish: validated as the engine does, then applied to its device's actor. */
function applyDeviceEvent(topic: string, payload: Buffer): void {
  // As the engine (src/roles/engine.ts): only `devices/` topics are device events; the rest pass through.
  if (!topic.startsWith('devices/')) return
  const match = registry.matchTopic(topic.split('/'))
  const definition = match?.type === undefined ? undefined : registry.get(match.type)
  if (!match || !definition) {
    stats.deadLetters++
    return
  }
  try {
    const body = parsePayload(payload, MAX_PAYLOAD_BYTES)
    validateEvent(definition, match.id, match.event, body)
    const twin = twinOf(definition.type, match.id, definition.machine)
    applyingAt = Date.now()
    try {
      twin.actor.send({ ...body, type: match.event, at: applyingAt })
    } finally {
      applyingAt = undefined
    }
  } catch {
    // parsePayload/validateEvent throw TwinErrors; the engine would dead-letter them with their code.
    stats.deadLetters++
  }
}

/** Where device events come from: the embedded aedes (as in the engine), or a subscription to an external broker. */
async function startMqtt(): Promise<{ port: number; close(): Promise<void> }> {
  if (options.mqttUrl) {
    // mqtt.js sends the PUBACK once the handler returned: applied, nothing durable, as with aedes below.
    // Loaded only here, so that on aedes this process runs exactly the modules it ran before --mqtt-url existed.
    const { default: mqtt } = await import('mqtt')
    const client = await mqtt.connectAsync(options.mqttUrl, { clientId: `ref-in-memory-${process.pid}` })
    client.on('message', applyDeviceEvent)
    await client.subscribeAsync('devices/#', { qos: 1 })
    return { port: 0, close: () => client.endAsync(true) }
  }
  // Returns undefined: PUBACK at once, since nothing here is durable (that is the point of this reference).
  return startEmbeddedBroker({ port: options.mqttPort, host: HOST, intercept: (_client, topic, payload) => void applyDeviceEvent(topic, payload) })
}

const broker = await startMqtt()

const http = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', ...stats }))
  } else {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"TWIN_ERR_NOT_FOUND","message":"only GET /health and /ws"}}')
  }
})
const wss = new WebSocketServer({ server: http, path: '/ws', maxPayload: MAX_WS_MESSAGE_BYTES })

wss.on('connection', (socket) => {
  const mine = new Map<string, Sub>()
  let nextId = 1
  const send = (message: unknown) => sendText(socket, JSON.stringify(message))
  const error = (message: string, extra: object = {}) => send({ op: 'error', code: 'TWIN_ERR_WS_BAD_MESSAGE', message, ...extra })

  socket.on('message', (data, isBinary) => {
    let msg: Record<string, unknown>
    try {
      msg = JSON.parse(isBinary ? '' : data.toString()) as Record<string, unknown>
      if (!msg || typeof msg !== 'object') throw new Error('a message must be a JSON object')
    } catch (err) {
      return error(`not a protocol message: ${(err as Error).message}`)
    }
    if (msg.op === 'ping') return send({ op: 'pong' })
    if (msg.op !== 'subscribe') return error(`unknown op ${JSON.stringify(msg.op)}; this reference speaks subscribe and ping`)
    const id = msg.id === undefined ? `s${nextId++}` : msg.id
    const { type, ids } = msg
    if (typeof id !== 'string' || mine.has(id)) return error('subscribe: id must be a new string')
    if (typeof type !== 'string' || !registry.get(type)) return send({ op: 'error', code: 'TWIN_ERR_UNKNOWN_TYPE', message: `subscribe: unknown twin type ${JSON.stringify(type)}`, sub: id })
    if (ids !== undefined && !(Array.isArray(ids) && ids.every((i) => typeof i === 'string'))) return error('subscribe: ids must be an array of strings', { sub: id })
    const sub: Sub = { socket, type, ids: ids ? new Set(ids as string[]) : null, prefix: `{"op":"change","sub":${JSON.stringify(id)},"twin":` }
    // Current state first, as the engine does; everything is in memory and synchronous,
    // so no change can slip in between the snapshot and `subscribed`.
    const current = [...(twins.get(type)?.values() ?? [])].filter((t) => !sub.ids || sub.ids.has(t.id))
    for (let i = 0; i < current.length; i += SNAPSHOT_PAGE) {
      send({ op: 'snapshot', sub: id, twins: current.slice(i, i + SNAPSHOT_PAGE).map(viewOf) })
    }
    send({ op: 'subscribed', sub: id, count: current.length })
    mine.set(id, sub)
    if (!subsByType.has(type)) subsByType.set(type, new Set())
    subsByType.get(type)!.add(sub)
  })
  socket.on('close', () => {
    for (const sub of mine.values()) subsByType.get(sub.type)?.delete(sub)
  })
})

await new Promise<void>((done, fail) => {
  http.once('error', fail)
  http.listen(options.httpPort, HOST, done)
})
const httpPort = (http.address() as { port: number }).port
process.stdout.write(`READY ${JSON.stringify({ mqttPort: broker.port, httpPort })}\n`)

let stopping = false
async function stop(): Promise<void> {
  if (stopping) return
  stopping = true
  for (const byId of twins.values()) for (const twin of byId.values()) twin.actor.stop()
  for (const socket of wss.clients) socket.terminate()
  wss.close()
  http.closeAllConnections()
  await new Promise<void>((done) => http.close(() => done()))
  await broker.close()
  process.exit(0)
}
process.on('SIGTERM', () => void stop())
process.on('SIGINT', () => void stop())
