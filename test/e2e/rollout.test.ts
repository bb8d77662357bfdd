import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { ROOT, waitFor } from '../support/env.ts'
import { LocalCluster } from '../support/localCluster.ts'

/**
 * A rolling upgrade as Kubernetes does it: two workers on version 1 under
 * traffic; a worker on version 2 starts and one on version 1 stops; then
 * the same again. Every acknowledged event is applied exactly once, no
 * worker steps a twin stored by a version it does not have, and every twin
 * ends at version 2.
 */

const V1 = join(ROOT, 'test/fixtures/lifecycle/v1')
const V2 = join(ROOT, 'test/fixtures/lifecycle/v2')
const NO_RULES = join(ROOT, 'test/fixtures/lifecycle/no-rules')
const DEVICES = 24

let cluster: LocalCluster | undefined
let client: MqttClient | undefined
afterEach(async () => {
  client?.end(true)
  await cluster?.stop()
  cluster = undefined
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('rolling upgrade (worker processes on two definition versions, one real Redis)', () => {
  it('applies every acknowledged event exactly once through the rollout, and every twin ends at v2', async () => {
    cluster = new LocalCluster({ TWINS_DIR: V1, RULES_DIR: NO_RULES })
    await cluster.start(2)
    client = await mqtt.connectAsync(cluster.front.mqttUrl, { clientId: `rollout-${Math.random().toString(36).slice(2)}` })
    const sent = new Map<string, number>()
    let sending = true
    const traffic = (async () => {
      while (sending) {
        await Promise.all(Array.from({ length: DEVICES }, (_, d) => {
          const id = `k${d}`
          const seq = (sent.get(id) ?? 0) + 1
          sent.set(id, seq)
          return client!.publishAsync(`devices/tank/${id}/inc`, JSON.stringify({ seq }), { qos: 1 })
        }))
        await sleep(25)
      }
    })()
    const cluster_ = cluster
    const workersLive = (n: number, versions: number[]) => waitFor(`${n} live workers at versions ${versions}`, async () => {
      const status = await cluster_.front.get('/cluster')
      const seen = status?.workers.map((w: { versions: { tank?: number } }) => w.versions.tank).sort()
      return status && JSON.stringify(seen) === JSON.stringify(versions) && status.shards.every((s: { owner: string | null }) => s.owner !== null)
    }, 45_000)

    await workersLive(2, [1, 1])
    await sleep(1000)
    // Replace the first v1 worker by a v2 one (start the new one, then stop the old).
    cluster.spawnWorker({ TWINS_DIR: V2 })
    await workersLive(3, [1, 1, 2])
    await sleep(1500)
    await cluster.kill(0, 'SIGTERM')
    await workersLive(2, [1, 2])
    await sleep(1500)
    // While v1 and v2 share the cluster, the v2 worker's twins stay with v2 workers.
    const mixed = await cluster.front.get('/cluster')
    expect(mixed.shards.reduce((n: number, s: { heldTwins: number }) => n + s.heldTwins, 0)).toBe(0)
    // Then the second.
    cluster.spawnWorker({ TWINS_DIR: V2 })
    await workersLive(3, [1, 2, 2])
    await sleep(1500)
    await cluster.kill(1, 'SIGTERM')
    await workersLive(2, [2, 2])
    await sleep(1000)
    sending = false
    await traffic

    for (const [id, seq] of sent) {
      const twin = await waitFor(`${id} complete`, async () => {
        const t = await cluster_.front.get(`/twins/tank/${id}`)
        return t?.context.count === seq ? t : null
      }, 30_000)
      expect(twin.context, id).toMatchObject({ count: seq, lastSeq: seq, gaps: 0, dupes: 0, unit: 'l' })
    }
    expect((await cluster.front.get('/twins/counts?type=tank')).types.tank.versions).toEqual({ 2: DEVICES })
    expect(await cluster.front.get('/dead-letters?limit=10')).toMatchObject({ deadLetters: [] })
  }, 180_000)
})
