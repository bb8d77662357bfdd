import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { Keys } from '../../src/store/keys.ts'
import { connectRedis } from '../../src/store/redis.ts'
import { redisCluster, waitFor } from '../support/env.ts'
import { LocalCluster } from '../support/localCluster.ts'

let cluster: LocalCluster | undefined
const clients: MqttClient[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) c.end(true)
  await cluster?.stop()
  cluster = undefined
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Devices publishing per-device sequence numbers at a steady pace, over one connection. */
async function traffic(url: string, devices: number) {
  const client = await mqtt.connectAsync(url, { clientId: `chaos-${Math.random().toString(36).slice(2)}` })
  clients.push(client)
  const ids = Array.from({ length: devices }, (_, i) => `d${i}`)
  const sent = new Map(ids.map((id) => [id, 0]))
  let running = true
  const done = (async () => {
    while (running) {
      await Promise.all(
        ids.map((id) => {
          const seq = sent.get(id)! + 1
          sent.set(id, seq)
          return client.publishAsync(`devices/counter/${id}/inc`, JSON.stringify({ seq }), { qos: 1 })
        }),
      )
      await sleep(20)
    }
  })()
  return { ids, sent, stop: async () => ((running = false), await done) }
}

/** Every `counted` derived event in every shard outbox, as device -> set of seqs. */
async function derivedSeqs(c: LocalCluster, shards: number): Promise<Map<string, Set<number>>> {
  const redis = connectRedis(c.redis.url, 'test', c.env.REDIS_CLUSTER === 'true')
  const keys = new Keys(c.env.KEY_PREFIX)
  const out = new Map<string, Set<number>>()
  for (let shard = 0; shard < shards; shard++) {
    for (const [, f] of await redis.xrange(keys.shard(shard).outbox, '-', '+')) {
      const field = (name: string) => f[f.indexOf(name) + 1]!
      const twin = field('k').split('/')[1]!
      if (!out.has(twin)) out.set(twin, new Set())
      out.get(twin)!.add((JSON.parse(field('d')) as { seq: number }).seq)
    }
  }
  await redis.quit()
  return out
}

describe('several worker processes (chaos)', () => {
  it('loses nothing and applies nothing twice while workers are SIGKILLed, restarted and added', async () => {
    cluster = new LocalCluster()
    await cluster.start(3)
    const t = await traffic(cluster.front.mqttUrl, 20)
    const random = (n: number) => Math.floor(Math.random() * n)
    for (let round = 0; round < 3; round++) {
      await sleep(600 + random(800))
      const alive = cluster.alive
      await cluster.kill(alive[random(alive.length)]!, 'SIGKILL')
      await sleep(200 + random(600))
      cluster.spawnWorker()
      if (round === 1) cluster.spawnWorker() // one more than before: a worker added mid-run
    }
    await cluster.waitForWorkers(4)
    await sleep(500)
    await t.stop()

    for (const id of t.ids) {
      const sent = t.sent.get(id)!
      const twin = await waitFor(`${id} at ${sent}`, async () => {
        const tw = await cluster!.front.get(`/twins/counter/${id}`)
        return tw?.context.count >= sent ? tw : null
      }, 40_000)
      expect(twin.context).toEqual(expect.objectContaining({ count: sent, lastSeq: sent, gaps: 0, dupes: 0 }))
    }
    const derived = await derivedSeqs(cluster, 64)
    for (const id of t.ids) {
      const seqs = derived.get(id)!
      expect(seqs.size).toBe(t.sent.get(id))
      expect(Math.max(...seqs)).toBe(t.sent.get(id))
    }
    expect(Math.min(...t.sent.values())).toBeGreaterThan(20)
  }, 150_000)

  it('fences a paused worker: after SIGSTOP past its lease and SIGCONT, its late commits are refused', async () => {
    cluster = new LocalCluster()
    await cluster.start(1)
    const dev = await mqtt.connectAsync(cluster.front.mqttUrl)
    clients.push(dev)
    for (let seq = 1; seq <= 10; seq++) await dev.publishAsync('devices/counter/f1/inc', JSON.stringify({ seq }), { qos: 1 })
    await waitFor('first events applied', async () => (await cluster!.front.get('/twins/counter/f1'))?.rev === 10)

    await cluster.kill(0, 'SIGSTOP')
    // Its blocking inbox read now has a reply waiting; it will act on it when it wakes.
    for (let seq = 11; seq <= 20; seq++) await dev.publishAsync('devices/counter/f1/inc', JSON.stringify({ seq }), { qos: 1 })
    cluster.spawnWorker()
    const twin = await waitFor('the new owner applied them', async () => {
      const tw = await cluster!.front.get('/twins/counter/f1')
      return tw?.rev === 20 ? tw : null
    }, 40_000)
    expect(twin.context).toMatchObject({ count: 20, dupes: 0 })

    await cluster.kill(0, 'SIGCONT')
    // On standalone Redis the paused worker wakes up holding a blocking read's reply and tries to commit: refused.
    // On Redis Cluster it polls, and may first learn from its lease renewal that the shards are gone: it drops them
    // without committing. Either way it must not write; the state check below is what matters.
    const refused = () => cluster!.workers[0]!.output.includes('TWIN_ERR_STALE_EPOCH')
    const dropped = () => /"why":"(lease lost|stale epoch)"/.test(cluster!.workers[0]!.output)
    await waitFor('the paused worker tried to commit and was refused', () => refused() || (redisCluster() && dropped()), 10_000)
    await sleep(500)
    expect(await cluster.front.get('/twins/counter/f1')).toMatchObject({ rev: 20, context: { count: 20, lastSeq: 20, gaps: 0, dupes: 0 } })
  }, 120_000)
})
