import { measure } from '../lib/measure.ts'
import { LOAD_TWINS, report, simPlan, type ScenarioOptions } from '../lib/scenario.ts'
import { engineTarget } from '../lib/targets.ts'
import type { LoadReport, TargetResult } from '../lib/types.ts'

const P99_LIMIT_MS = 50

/**
 * `ramp`: raises the rate step by step (a fresh engine per step, so every
 * step starts from the same state) until p99 exceeds 50 ms or the engine
 * falls behind (receives < 95 % of what was published); reports the highest
 * rate it sustained.
 */
export async function ramp(o: ScenarioOptions): Promise<LoadReport> {
  const devices = o.devices ?? 10_000
  const step = Number(o.step ?? 1000)
  const seconds = Math.min(o.duration, 15)
  const steps: TargetResult[] = []
  let sustained = 0
  for (let rate = Number(o.rate ?? step); rate <= 200_000; rate += step) {
    const target = await engineTarget({ TWINS_DIR: LOAD_TWINS, TWIN_CACHE_SIZE: String(devices * 2) }, o.broker)
    let result: TargetResult
    try {
      const { perDevice: _, ...r } = await measure(target, { ...simPlan(o, devices, rate, seconds), mqttUrl: target.mqttUrl })
      result = { ...r, target: `engine @ ${rate}/s` }
    } finally {
      await target.stop()
    }
    steps.push(result)
    const keptUp = result.received >= 0.95 * result.published && result.throughput >= 0.9 * rate
    if (result.latency.p99 > P99_LIMIT_MS || !keptUp) break
    sustained = rate
  }
  return report('ramp', { ...o, devices, step, stepSeconds: seconds }, steps, {
    ratios: {},
    targets: [{ name: 'highest rate with p99 ≤ 50 ms', goal: 'as high as possible', measured: `${sustained} events/s`, met: sustained > 0 }],
    notes: [`steps of ${step} events/s, ${seconds} s each, fresh engine per step; stops at the first step with p99 > ${P99_LIMIT_MS} ms or < 95 % delivered`],
  })
}
