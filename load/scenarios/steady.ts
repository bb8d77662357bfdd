import { byTarget, LOAD_TWINS, ratio, report, simPlan, type ScenarioOptions } from '../lib/scenario.ts'
import { measure } from '../lib/measure.ts'
import { brokerCeilingTarget, engineTarget, inMemoryTarget, type Target } from '../lib/targets.ts'
import type { LoadReport, TargetResult } from '../lib/types.ts'

/**
 * `steady`: 10K twins. First each target's maximum (closed loop, as fast as
 * acknowledgements come back), then each at one fixed rate — by default half
 * the engine's maximum — for latency. Every target starts fresh for each phase,
 * on `--broker mosquitto` with a fresh mosquitto of its own.
 */
export async function steady(o: ScenarioOptions): Promise<LoadReport> {
  const devices = o.devices ?? 10_000
  const maxSeconds = Math.min(20, o.duration)
  const targets: Array<() => Promise<Target>> = [
    ...(o.references ? [() => brokerCeilingTarget(o.broker), () => inMemoryTarget(LOAD_TWINS, o.broker)] : []),
    () => engineTarget({ TWINS_DIR: LOAD_TWINS, TWIN_CACHE_SIZE: String(devices * 2) }, o.broker),
  ]
  const run = async (start: () => Promise<Target>, rate: number, seconds: number): Promise<TargetResult> => {
    const target = await start()
    try {
      const { perDevice: _, ...result } = await measure(target, { ...simPlan(o, devices, rate, seconds), mqttUrl: target.mqttUrl })
      return result
    } finally {
      await target.stop()
    }
  }
  const max: TargetResult[] = []
  for (const start of targets) max.push({ ...(await run(start, 0, maxSeconds)), description: '' })
  const engineMax = byTarget(max, 'engine')!.throughput
  const rate = o.rate ?? Math.max(100, Math.round(engineMax / 2))
  const fixed: TargetResult[] = []
  for (const start of targets) fixed.push(await run(start, rate, o.duration))
  for (const r of max) r.description = `maximum (closed loop) of ${r.target}`

  const engine = byTarget(fixed, 'engine')!
  const engineAtMax = byTarget(max, 'engine')!
  // A reference that counted nothing in its window is no yardstick: its targets read "—", never ✅.
  const yardstick = (r: TargetResult | undefined) => (r && r.throughput > 0 ? r : undefined)
  const ceiling = yardstick(byTarget(max, 'broker-ceiling'))
  const inMemory = yardstick(byTarget(max, 'in-memory'))
  const inMemoryFixed = byTarget(fixed, 'in-memory')
  const cpu = (r: TargetResult | undefined) => (r?.cpuSecondsPerEvent === undefined ? undefined : Math.round(r.cpuSecondsPerEvent * 1e6))
  const [cpuHalf, cpuMax, cpuInMemory] = [cpu(engine), cpu(engineAtMax), cpu(inMemoryFixed)]
  return report('steady', { ...o, devices, rate }, [...max.map((r) => ({ ...r, target: `${r.target} (max)` })), ...fixed], {
    ratios: {
      ...(ceiling ? { 'engine ÷ broker-ceiling (max throughput)': ratio(engineMax, ceiling.throughput) } : {}),
      ...(inMemory ? { 'engine ÷ in-memory (max throughput)': ratio(engineMax, inMemory.throughput) } : {}),
      ...(cpuHalf && cpuMax ? { 'engine CPU/event at half max ÷ at max': ratio(cpuHalf, cpuMax) } : {}),
    },
    // The targets of the speed issue (#16), checked on this run's own references.
    targets: [
      { name: 'throughput vs broker ceiling', goal: '≥ 0.5×', measured: ceiling ? `${ratio(engineMax, ceiling.throughput)}×` : '—', met: ceiling ? engineMax >= 0.5 * ceiling.throughput : null },
      { name: 'throughput vs in-memory reference', goal: '≥ 1.0×', measured: inMemory ? `${ratio(engineMax, inMemory.throughput)}×` : '—', met: inMemory ? engineMax >= inMemory.throughput : null },
      { name: `CPU per event at ${rate} events/s (half the max) vs at the max`, goal: '≤ 1.2×', measured: cpuHalf && cpuMax ? `${cpuHalf} vs ${cpuMax} µs (${ratio(cpuHalf, cpuMax)}×)` : '—', met: cpuHalf && cpuMax ? cpuHalf <= 1.2 * cpuMax : null },
      { name: `CPU per event at ${rate} events/s vs the in-memory reference at that rate`, goal: '≤ 1.0×', measured: cpuHalf && cpuInMemory ? `${cpuHalf} vs ${cpuInMemory} µs (${ratio(cpuHalf, cpuInMemory)}×)` : '—', met: cpuHalf && cpuInMemory ? cpuHalf <= cpuInMemory : null },
      { name: `p99 at ${rate} events/s (half the max)`, goal: '≤ 20 ms', measured: `${engine.latency.p99} ms`, met: engine.latency.p99 <= 20 },
      { name: `p99 at ${rate} events/s vs the in-memory reference's`, goal: '≤ 1.0×', measured: inMemoryFixed ? `${engine.latency.p99} vs ${inMemoryFixed.latency.p99} ms` : '—', met: inMemoryFixed ? engine.latency.p99 <= inMemoryFixed.latency.p99 : null },
    ],
    notes: [
      `max phase: ${maxSeconds} s closed loop per target; fixed phase: ${o.duration} s at ${rate} events/s open loop`,
      'all processes (generators, targets, Redis) share this machine',
    ],
  })
}
