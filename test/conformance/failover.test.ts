/**
 * A failover changes no outcome: meters (the shipped twin) fed over MQTT by
 * a front process while one of two worker processes is SIGKILLed mid-stream
 * (its shards wait out the lease, then the other worker applies their inbox
 * as a backlog) end, per twin, in the same state value and context, with the
 * same sequence of derived events — in the outbox and as published on MQTT
 * (at least once: de-duplicated by id) — as the same per-device events run
 * without a failover through the engine's own step (the test kit).
 * `load/`'s failover scenario counts lost and doubly applied events; this
 * compares what each twin did.
 */
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import type { DerivedEvent } from '../../src/model/record.ts'
import { createTwinHarness } from '../../src/public/testing.ts'
import { Keys } from '../../src/store/keys.ts'
import { decodeOutboxEntry } from '../../src/store/outboxStream.ts'
import { connectRedis } from '../../src/store/redis.ts'
import meter from '../../twins/meter.ts'
import { ROOT, waitFor } from '../support/env.ts'
import { LocalCluster } from '../support/localCluster.ts'
import { seeded } from '../support/seeded.ts'

const DEVICES = 24
const ROUNDS = 40
const KILL_AT_ROUND = 10
const SHARDS = 64

let cluster: LocalCluster | undefined
const clients: MqttClient[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.end(true)
  await cluster?.stop()
  cluster = undefined
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Each meter's events: readings whose register mostly climbs (sometimes runs back: tamper) and whose power crosses the limit, and a contract now and then. */
function plan(): Map<string, Array<{ event: string; payload: Record<string, number> }>> {
  const random = seeded(11)
  const out = new Map<string, Array<{ event: string; payload: Record<string, number> }>>()
  for (let d = 0; d < DEVICES; d++) {
    let energy = 1000 + d
    const events: Array<{ event: string; payload: Record<string, number> }> = []
    for (let r = 0; r < ROUNDS; r++) {
      if (random() < 0.08) {
        events.push({ event: 'contract', payload: { limitW: random() < 0.5 ? 6000 : 12_000 } })
        continue
      }
      energy = random() < 0.07 ? energy - Math.round(random() * 50) : energy + Math.round(random() * 3000) / 1000
      events.push({ event: 'reading', payload: { energyKwh: Math.max(0, energy), powerW: Math.round(random() * 15_000) } })
    }
    out.set(`m${d}`, events)
  }
  return out
}

/** What a twin shows that does not depend on when its events arrived (real time differs between runs). */
function timeless(context: Record<string, unknown>): Record<string, unknown> {
  const { lastReadingAt: _a, aboveSince: _b, ...rest } = context
  return rest
}

describe('failover', () => {
  it('per twin, the same state, context and derived events as a run without the failover', async () => {
    const events = plan()
    cluster = new LocalCluster({ TWINS_DIR: `${ROOT}/twins`, RULES_DIR: `${ROOT}/rules`, SHARDS: String(SHARDS) })
    await cluster.start(2)
    const published = new Map<string, DerivedEvent[]>()
    const watcher = await mqtt.connectAsync(cluster.front.mqttUrl, { clientId: `watch-${Math.random().toString(36).slice(2)}` })
    clients.push(watcher)
    watcher.on('message', (_topic, payload) => {
      const d = JSON.parse(payload.toString()) as DerivedEvent
      published.set(d.twinId, [...(published.get(d.twinId) ?? []), d])
    })
    await watcher.subscribeAsync('twins/meter/+/events/+', { qos: 1 })
    const device = await mqtt.connectAsync(cluster.front.mqttUrl, { clientId: `meters-${Math.random().toString(36).slice(2)}` })
    clients.push(device)

    for (let round = 0; round < ROUNDS; round++) {
      if (round === KILL_AT_ROUND) await cluster.kill(cluster.alive[0]!, 'SIGKILL')
      await Promise.all([...events].map(([id, list]) => device.publishAsync(`devices/meter/${id}/${list[round]!.event}`, JSON.stringify(list[round]!.payload), { qos: 1 })))
      await sleep(60)
    }

    // Every event applied once (every one is accepted by a meter), after the surviving worker took the dead one's shards.
    const views = new Map<string, { value: unknown; context: Record<string, unknown>; rev: number }>()
    for (const id of events.keys()) {
      views.set(id, await waitFor(`meter ${id} applied all its events`, async () => {
        const t = await cluster!.front.get(`/twins/meter/${id}`)
        return t?.rev === ROUNDS ? t : null
      }, 30_000))
    }

    const redis = connectRedis(cluster.redis.url, 'test', cluster.env.REDIS_CLUSTER === 'true')
    const keys = new Keys(cluster.env.KEY_PREFIX)
    const outbox = new Map<string, DerivedEvent[]>()
    for (let shard = 0; shard < SHARDS; shard++) {
      for (const [, fields] of await redis.xrange(keys.shard(shard).outbox, '-', '+')) {
        const entry = decodeOutboxEntry(fields)
        if (entry.kind === 'derived') outbox.set(entry.event.twinId, [...(outbox.get(entry.event.twinId) ?? []), entry.event])
      }
    }
    await redis.quit()

    let derivedInAll = 0
    for (const [id, list] of events) {
      // The same events, without a failover, through the engine's own step.
      const t = createTwinHarness(meter, { id })
      for (const e of list) t.send(e.event, e.payload)
      const expected = t.emitted.map(({ at: _, ...e }) => e)
      const view = views.get(id)!
      expect(view.value, `meter ${id}: state`).toEqual(t.state)
      expect(timeless(view.context), `meter ${id}: context`).toEqual(timeless(t.context))
      const committed = (outbox.get(id) ?? []).map((d) => ({ type: d.name, ...d.data }))
      expect(committed, `meter ${id}: derived events in the outbox`).toEqual(expected)
      derivedInAll += expected.length
      await waitFor(`meter ${id}: derived events published`, () => new Set((published.get(id) ?? []).map((d) => d.id)).size === committed.length, 15_000)
      const firstSeen = [...new Map((published.get(id) ?? []).map((d) => [d.id, d] as const)).values()].map((d) => ({ type: d.name, ...d.data }))
      expect(firstSeen, `meter ${id}: derived events on MQTT`).toEqual(expected)
    }
    // The plan makes derived events (tamper) on both sides of the kill, or the comparison says little.
    expect(derivedInAll).toBeGreaterThan(DEVICES / 2)
  }, 120_000)
})
