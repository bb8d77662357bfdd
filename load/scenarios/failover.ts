import { measure } from '../lib/measure.ts'
import { LOAD_TWINS, report, simPlan, type ScenarioOptions } from '../lib/scenario.ts'
import { clusterTarget } from '../lib/targets.ts'
import type { LoadReport } from '../lib/types.ts'
import type { LocalCluster } from '../../test/support/localCluster.ts'

/**
 * `failover`: a front process and 2 worker processes under steady meter
 * traffic; a third of the way in, one worker is SIGKILLed. Reports recovery
 * time (kill → every shard owned by a live worker again) and, from every
 * twin's final revision against what its device published, events lost and
 * events applied twice.
 */
export async function failover(o: ScenarioOptions): Promise<LoadReport> {
  const devices = o.devices ?? 3000
  const rate = o.rate ?? 1000
  const leaseTtlMs = Number(o.leaseTtl ?? 5000)
  const target = await clusterTarget(2, { TWINS_DIR: LOAD_TWINS, LEASE_TTL_MS: String(leaseTtlMs) })
  const cluster = target.cluster!
  let recoveredMs = 0
  let recovery: Promise<void> = Promise.resolve()
  const killAt = Math.max(3, Math.round(o.duration / 3))
  try {
    const result = await measure(target, { ...simPlan(o, devices, rate, o.duration), types: ['meter'], devicesPerType: devices, mqttUrl: target.mqttUrl }, (t) => {
      if (t !== killAt) return
      // measure() does not wait for this: keep the promise, so the run waits for it before the cluster stops.
      recovery = recover(cluster, cluster.alive[0]!).then((ms) => void (recoveredMs = ms))
    })
    await recovery
    // Every twin's revision against what its device published.
    const revs = new Map<string, number>()
    let cursor: string | undefined
    do {
      const page = await cluster.front.get(`/twins?type=meter&limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      for (const t of page.twins as Array<{ id: string; rev: number }>) revs.set(`meter/${t.id}`, t.rev)
      cursor = page.next
    } while (cursor)
    let lost = 0
    let twice = 0
    for (const [key, sent] of result.perDevice) {
      const rev = revs.get(key) ?? 0
      lost += Math.max(0, sent - rev)
      twice += Math.max(0, rev - sent)
    }
    const { perDevice: _, ...rest } = result
    rest.description = `front + 2 workers, one SIGKILLed at ${killAt} s, LEASE_TTL_MS=${leaseTtlMs}`
    rest.extra = { ...rest.extra, recoveryMs: recoveredMs, eventsLost: lost, eventsAppliedTwice: twice, leaseTtlMs }
    return report('failover', { ...o, devices, rate, leaseTtlMs }, [rest], {
      ratios: {},
      targets: [
        { name: 'events lost', goal: '0', measured: String(lost), met: lost === 0 },
        { name: 'events applied twice', goal: '0', measured: String(twice), met: twice === 0 },
        { name: 'recovery time (kill → every shard owned again)', goal: `≈ LEASE_TTL_MS (${leaseTtlMs} ms)`, measured: `${recoveredMs} ms`, met: recoveredMs > 0 && recoveredMs <= leaseTtlMs + 2000 },
      ],
      notes: ['revisions read over HTTP after the run; every meter event is accepted, so a twin’s rev must equal the events its device published'],
    })
  } finally {
    await target.stop()
  }
}

/**
 * SIGKILLs worker process `victim` and measures until every shard is owned by
 * a worker that heartbeated after the kill (the victim cannot): ms, or 0 if
 * not within 60 s. The victim is known by its process, not by its worker id,
 * which GET /cluster does not tie to a process.
 */
export async function recover(cluster: LocalCluster, victim: number): Promise<number> {
  const killedAt = performance.now()
  await cluster.kill(victim, 'SIGKILL')
  // Heartbeats after this instant are not the victim's (the API's clock, or this process's on the same machine).
  const dead = ((await cluster.front.get('/cluster')) as { now: number } | null)?.now ?? Date.now()
  while (performance.now() - killedAt < 60_000) {
    const status = (await cluster.front.get('/cluster')) as { workers: Array<{ id: string; lastHeartbeatMs: number }>; shards: Array<{ owner: string | null }> } | null
    const live = new Set(status?.workers.filter((w) => w.lastHeartbeatMs > dead).map((w) => w.id))
    if (status?.shards.every((s) => s.owner !== null && live.has(s.owner))) return Math.round(performance.now() - killedAt)
    await new Promise((r) => setTimeout(r, 50))
  }
  return 0
}
