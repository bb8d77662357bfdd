import type * as hdr from 'hdr-histogram-js'
import { newHistogram, runGenerators, type PoolPlan } from './generatorPool.ts'
import { ProcSampler } from './procStats.ts'
import { percentilesOf } from './report.ts'
import type { MqttSinkSecond, Target } from './targets.ts'
import type { Sample, TargetResult } from './types.ts'

const ms = (h: hdr.Histogram, p: number) => (h.totalCount ? Math.round(h.getValueAtPercentile(p) / 10) / 100 : 0)

/**
 * Drives one target with the generator pool and turns what comes back into a
 * TargetResult: per-second samples (with the target's CPU and memory), the
 * latency histogram, and throughput over the measured duration. A live
 * progress line goes to stderr.
 */
export async function measure(target: Target, plan: PoolPlan, onSecond?: (t: number) => void | Promise<void>, warmupS = 5): Promise<TargetResult & { perDevice: Map<string, number> }> {
  const sampler = new ProcSampler(target.pids)
  target.sink?.reset()
  const samples: Sample[] = []
  // Latency and throughput count only after the warm-up (JIT, first twins created).
  const measured = newHistogram()
  const seen = { published: 0, received: 0 }
  const totals = await runGenerators({ ...plan, wsUrl: target.sink ? undefined : target.wsUrl, stamp: Boolean(target.sink), closeOnChange: target.closeOnChange }, (s) => {
    const sink = target.sink?.seconds[samples.length]
    const received = sink ? sink.received : s.received
    const histogram = sink ? sink.histogram : s.histogram
    const proc = sampler.sample(1)
    samples.push({ t: samples.length + 1, published: s.acked, received, p50: ms(histogram, 50), p99: ms(histogram, 99), ...proc })
    if (samples.length > warmupS) measured.add(histogram)
    seen.published += s.acked
    seen.received += received
    process.stderr.write(
      `\r${target.name.padEnd(15)} ${String(samples.length).padStart(4)}s  published ${rate(s.acked)}/s  received ${rate(received)}/s  p99 ${ms(histogram, 99).toFixed(1).padStart(7)} ms  cpu ${String(proc.cpuPercent).padStart(4)}%  rss ${proc.rssMb} MB   `,
    )
    void onSecond?.(samples.length)
  })
  process.stderr.write('\n')
  let received = totals.received
  if (target.sink) {
    // Give the sink a moment to count the last messages, then take its numbers.
    await new Promise((r) => setTimeout(r, 1500))
    received = target.sink.seconds.reduce((n, s) => n + s.received, 0)
    fromSink(target.sink.seconds, samples, measured, warmupS)
  }
  const durationS = plan.durationMs / 1000
  const inWindow = samples.filter((s) => s.t > warmupS && s.t <= Math.ceil(durationS))
  const windowReceived = inWindow.reduce((n, s) => n + s.received, 0)
  return {
    target: target.name,
    description: target.description,
    targetRate: plan.rate,
    durationS,
    published: totals.acked,
    received,
    throughput: Math.round(windowReceived / Math.max(1, inWindow.length)),
    latency: percentilesOf(measured.totalCount ? measured : totals.histogram),
    errors: totals.errors,
    deadLetters: await target.deadLetters?.(),
    unmatched: target.sink ? undefined : totals.unmatched,
    cpuSecondsPerEvent: received ? sampler.cpuSeconds() / received : undefined,
    peakRssMb: Math.round(sampler.peakRssMb),
    samples,
    perDevice: totals.perDevice,
    extra: { warmupSeconds: warmupS },
  }
}

/**
 * The sink's own count of each second, once all of them have arrived: a
 * sink busy with a flood (the closed loop on a broker that acknowledges at
 * once) sends its per-second lines late, and a second whose line was not in
 * yet when the generators reported it must not count as nothing received.
 */
function fromSink(seconds: MqttSinkSecond[], samples: Sample[], measured: hdr.Histogram, warmupS: number): void {
  measured.reset()
  samples.forEach((sample, i) => {
    const second = seconds[i]
    sample.received = second?.received ?? 0
    sample.p50 = second ? ms(second.histogram, 50) : 0
    sample.p99 = second ? ms(second.histogram, 99) : 0
    if (second && sample.t > warmupS) measured.add(second.histogram)
  })
}

function rate(n: number): string {
  return String(Math.round(n)).padStart(7)
}
