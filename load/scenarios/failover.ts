import { measure } from '../lib/measure.ts'
import { LOAD_TWINS, report, simPlan, type ScenarioOptions } from '../lib/scenario.ts'
import { clusterTarget } from '../lib/targets.ts'
import type { LoadReport } from '../lib/types.ts'

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
  let killedAt = 0
  let recoveredMs = 0
  const killAt = Math.max(3, Math.round(o.duration / 3))
  try {
    const result = await measure(target, { ...simPlan(o, devices, rate, o.duration), types: ['meter'], devicesPerType: devices, mqttUrl: target.mqttUrl }, async (t) => {
      if (t !== killAt) return
      const victim = cluster.alive[0]!
      const status = await cluster.front.get('/cluster')
      const victimId = status.workers.find((w: { shards: number[] }) => w.shards.length > 0).id as string
      killedAt = performance.now()
      await cluster.kill(victim, 'SIGKILL')
      while (!recoveredMs && performance.now() - killedAt < 60_000) {
        const now = await cluster.front.get('/cluster')
        if (now?.shards.every((s: { owner: string | null }) => s.owner && s.owner !== victimId)) recoveredMs = Math.round(performance.now() - killedAt)
        else await new Promise((r) => setTimeout(r, 50))
      }
    })
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
