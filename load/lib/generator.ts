/**
 * One load generator process (forked by generatorPool.ts). It simulates a
 * slice of the fleet, publishes open-loop at its share of the target rate
 * over a few MQTT connections (a device always on the same one, so its
 * events keep their order), and measures end to end:
 *
 *   sink 'ws'   - subscribes to its own devices on the target's WebSocket and
 *                 matches each change to the publish it answers by revision:
 *                 the k-th event of a device yields rev revOffset + k.
 *   sink 'none' - only publishes; the payload carries `_t` (send time) for an
 *                 external MQTT sink (the raw broker ceiling).
 *
 * Times are `performance.timeOrigin + performance.now()`, comparable across
 * processes on one machine. Latencies go into HDR histograms (µs).
 */
import * as hdr from 'hdr-histogram-js'
import mqtt, { type MqttClient } from 'mqtt'
import WebSocket from 'ws'
import { createDevice, type SimulatedDevice } from '../../src/demo/devices.ts'

export interface GeneratorConfig {
  index: number
  mqttUrl: string
  wsUrl?: string
  /** devices of this generator: `${idPrefix}${n}` for n in [from, to) of each type */
  types: string[]
  idPrefix: string
  from: number
  to: number
  /** events/s of this generator; 0 = closed loop, `window` in flight per connection */
  rate: number
  window: number
  /**
   * Closed loop: a publish is in flight until its change arrives on the
   * WebSocket, not until its PUBACK. For targets behind a broker that
   * acknowledges at once (mosquitto): publishers would otherwise run ahead of
   * the target and measure a growing queue instead of its maximum.
   */
  closeOnChange?: boolean
  durationMs: number
  connections: number
  /** 'sim': each device's own realistic sequence; otherwise this one event for every publish */
  source: 'sim' | { event: string; payload: Record<string, unknown> }
  /** add `_t` to payloads (broker ceiling) */
  stamp: boolean
  /** changes each device had before this run (its rev when we start) */
  revOffset: number
  /** stop after every device published once */
  once?: boolean
  seed: number
}

const now = () => performance.timeOrigin + performance.now()
const newHistogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 })

/** mulberry32: a seeded generator, so runs are repeatable. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

async function run(c: GeneratorConfig): Promise<void> {
  const random = seeded(c.seed)
  // A simulated device per id when the source is 'sim'; otherwise just the ids.
  const devices: Array<Pick<SimulatedDevice, 'type' | 'id'> & { sim?: SimulatedDevice }> = []
  for (const type of c.types) {
    for (let n = c.from; n < c.to; n++) {
      const id = `${c.idPrefix}${n}`
      devices.push(c.source === 'sim' ? { type, id, sim: createDevice(type, id, random) } : { type, id })
    }
  }
  const sentAt = new Map<string, number[]>(devices.map((d) => [`${d.type}/${d.id}`, []]))
  /**
   * closeOnChange: per device (`type/id`), the publishes waiting for their change, by revision. A change
   * answers every publish up to its revision: a conflated change (a client behind) skips revisions.
   */
  const awaitingChange = new Map<string, Array<{ rev: number; answered: () => void }>>()
  const clients: MqttClient[] = await Promise.all(
    Array.from({ length: c.connections }, (_, i) => mqtt.connectAsync(c.mqttUrl, { clientId: `load-${c.index}-${i}-${Math.floor(random() * 1e9)}`, reconnectPeriod: 1000 })),
  )
  let interval = newHistogram()
  const total = newHistogram()
  let published = 0
  let acked = 0
  let received = 0
  let unmatched = 0
  let errors = 0

  let ws: WebSocket | undefined
  let finished = false
  if (c.wsUrl) {
    ws = new WebSocket(c.wsUrl)
    await new Promise<void>((resolve, reject) => {
      ws!.once('open', () => resolve())
      ws!.once('error', reject)
    })
    let pending = 0
    ws.on('close', (code, reason) => {
      if (!finished) process.send!({ type: 'failed', message: `WebSocket closed (${code} ${reason.toString()})` }, () => process.exit(1))
    })
    const subscribed = new Promise<void>((resolve) => {
      ws!.on('message', (data) => {
        const text = data.toString()
        if (text.startsWith('{"op":"change"')) {
          const { twin } = JSON.parse(text) as { twin: { type: string; id: string; rev: number } }
          const sent = sentAt.get(`${twin.type}/${twin.id}`)?.[twin.rev - c.revOffset - 1]
          const waiting = awaitingChange.get(`${twin.type}/${twin.id}`)
          if (waiting) {
            for (const w of waiting) if (w.rev <= twin.rev) w.answered()
            const left = waiting.filter((w) => w.rev > twin.rev)
            if (left.length) awaitingChange.set(`${twin.type}/${twin.id}`, left)
            else awaitingChange.delete(`${twin.type}/${twin.id}`)
          }
          received++
          if (sent === undefined) unmatched++
          else {
            const us = Math.max(1, Math.round((now() - sent) * 1000))
            interval.recordValue(us)
            total.recordValue(us)
          }
        } else if (text.startsWith('{"op":"subscribed"') && --pending === 0) resolve()
        else if (text.startsWith('{"op":"error"')) errors++
      })
    })
    for (const type of c.types) {
      const ids = devices.filter((d) => d.type === type).map((d) => d.id)
      // 2,000 ids a message keeps each subscribe well under the 64 KB frame limit.
      for (let i = 0; i < ids.length; i += 2000) {
        pending++
        ws.send(JSON.stringify({ op: 'subscribe', id: `${type}-${i}`, type, ids: ids.slice(i, i + 2000) }))
      }
    }
    await subscribed
  }
  process.send!({ type: 'ready', index: c.index })
  await new Promise<void>((resolve) => process.once('message', () => resolve()))

  const publishOne = (k: number): Promise<void> => {
    const device = devices[k % devices.length]!
    const client = clients[(k % devices.length) % clients.length]!
    const { event, payload } = device.sim ? device.sim.next(Date.now()) : { event: (c.source as { event: string }).event, payload: { ...(c.source as { payload: Record<string, unknown> }).payload } }
    const t = now()
    if (c.stamp) payload._t = t
    sentAt.get(`${device.type}/${device.id}`)!.push(t)
    published++
    const puback = new Promise<void>((resolve) => {
      client.publish(`devices/${device.type}/${device.id}/${event}`, JSON.stringify(payload), { qos: 1 }, (err) => {
        if (err) errors++
        else acked++
        resolve()
      })
    })
    if (!c.closeOnChange || c.rate > 0) return puback
    const key = `${device.type}/${device.id}`
    const rev = c.revOffset + sentAt.get(key)!.length
    const changed = new Promise<void>((answered) => awaitingChange.set(key, [...(awaitingChange.get(key) ?? []), { rev, answered }]))
    return Promise.all([puback, changed]).then(() => undefined)
  }

  const start = performance.now()
  const limit = c.once ? devices.length : Infinity
  const report = setInterval(() => {
    process.send!({ type: 'progress', index: c.index, published, acked, received, unmatched, errors, histogram: hdr.encodeIntoCompressedBase64(interval) })
    interval = newHistogram()
  }, 1000)
  if (c.rate > 0) {
    // Open loop: publish what the schedule says is due, whatever the target does.
    while (performance.now() - start < c.durationMs && published < limit) {
      const due = Math.min(limit, Math.floor(((performance.now() - start) / 1000) * c.rate))
      while (published < due) void publishOne(published)
      await new Promise((r) => setTimeout(r, 2))
    }
  } else {
    // Closed loop: `window` publishes in flight per connection, for the maximum rate.
    const lane = async () => {
      while (performance.now() - start < c.durationMs && published < limit) await publishOne(published)
    }
    // A change that never comes (a dead letter) would hold its lane for good: release every lane at the end.
    const release = setTimeout(() => {
      for (const waiting of awaitingChange.values()) for (const w of waiting) w.answered()
    }, c.durationMs)
    await Promise.all(Array.from({ length: c.window * c.connections }, lane))
    clearTimeout(release)
  }
  // Let the last answers arrive (bounded), then report.
  const settle = performance.now()
  while ((acked + errors < published || (ws && received < published)) && performance.now() - settle < 10_000) await new Promise((r) => setTimeout(r, 20))
  clearInterval(report)
  finished = true
  // What each device published, so the coordinator can check the target applied exactly that.
  const perDevice: Record<string, number> = {}
  for (const [key, times] of sentAt) perDevice[key] = times.length
  // Wait until the message is handed to the parent: exiting right after send() can drop it.
  await new Promise<void>((resolve) => {
    process.send!({ type: 'final', index: c.index, published, acked, received, unmatched, errors, histogram: hdr.encodeIntoCompressedBase64(total), perDevice }, () => resolve())
  })
  ws?.close()
  await Promise.all(clients.map((client) => client.endAsync()))
}

process.once('message', (config: GeneratorConfig) => {
  run(config).then(
    () => process.exit(0),
    (err: Error) => {
      process.send!({ type: 'failed', message: err.stack ?? err.message })
      process.exit(1)
    },
  )
})
