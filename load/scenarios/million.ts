import { runGenerators } from '../lib/generatorPool.ts'
import { measure } from '../lib/measure.ts'
import { LOAD_TWINS, report, simPlan, type ScenarioOptions } from '../lib/scenario.ts'
import { engineTarget, redisUsedMemory } from '../lib/targets.ts'
import type { LoadReport } from '../lib/types.ts'

/**
 * `million`: stores 1M meter twins (one reading each, as fast as the engine
 * takes them), measures Redis memory per stored twin, then runs steady
 * traffic on 100K of them (the active set; the rest stay passivated in Redis).
 */
export async function million(o: ScenarioOptions): Promise<LoadReport> {
  const twins = Number(o.twins ?? 1_000_000)
  const active = Math.min(twins, Number(o.active ?? 100_000))
  const rate = o.rate ?? 3000
  const target = await engineTarget({ TWINS_DIR: LOAD_TWINS, TWIN_CACHE_SIZE: String(Math.round(active * 1.2)) })
  try {
    const before = await redisUsedMemory(target.redisUrl!)
    const plan = { ...simPlan(o, twins, 0, 3600), types: ['meter'], devicesPerType: twins, mqttUrl: target.mqttUrl }
    const started = performance.now()
    let last = 0
    await runGenerators({ ...plan, once: true, source: { event: 'reading', payload: { energyKwh: 1, powerW: 500 } } }, (s) => {
      last += s.acked
      process.stderr.write(`\rpreload ${s.t}s  stored ${last}/${twins}   `)
    })
    let applied = 0
    while (applied < twins && performance.now() - started < 3_600_000) {
      applied = ((await target.engine!.get('/health'))?.worker?.applied as number) ?? 0
      await new Promise((r) => setTimeout(r, 500))
    }
    const preloadS = (performance.now() - started) / 1000
    const bytesPerTwin = Math.round(((await redisUsedMemory(target.redisUrl!)) - before) / twins)
    process.stderr.write(`\npreloaded ${twins} twins in ${preloadS.toFixed(0)} s; Redis ${bytesPerTwin} bytes per twin\n`)

    const { perDevice: _, ...result } = await measure(target, { ...simPlan(o, active, rate, o.duration), types: ['meter'], devicesPerType: active, revOffset: 1, mqttUrl: target.mqttUrl })
    result.description = `${active} active of ${twins} stored meter twins at ${rate} events/s`
    result.extra = { ...result.extra, storedTwins: twins, preloadSeconds: Math.round(preloadS), preloadRate: Math.round(twins / preloadS), redisBytesPerTwin: bytesPerTwin }
    return report('million', { ...o, twins, active, rate }, [result], {
      ratios: {},
      targets: [
        { name: 'Redis memory per stored twin', goal: '≤ 1 KB', measured: `${bytesPerTwin} bytes`, met: bytesPerTwin <= 1024 },
        { name: `p99 with ${active} active of ${twins}`, goal: '≤ 20 ms', measured: `${result.latency.p99} ms`, met: result.latency.p99 <= 20 },
      ],
      notes: ['memory per twin = growth of Redis used_memory over the preload ÷ twins stored (records, index, timers, inbox remainder)'],
    })
  } finally {
    await target.stop()
  }
}
