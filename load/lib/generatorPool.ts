import { fork, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as hdr from 'hdr-histogram-js'
import type { GeneratorConfig } from './generator.ts'

const GENERATOR = join(dirname(fileURLToPath(import.meta.url)), 'generator.ts')

export interface PoolPlan extends Omit<GeneratorConfig, 'index' | 'from' | 'to' | 'rate' | 'seed'> {
  generators: number
  /** devices per type, split over the generators */
  devicesPerType: number
  /** total events/s over all generators; 0 = closed loop */
  rate: number
  seed?: number
}

export interface SecondTotals {
  /** seconds since the start signal */
  t: number
  published: number
  acked: number
  received: number
  histogram: hdr.Histogram
}

export interface PoolTotals {
  published: number
  acked: number
  received: number
  unmatched: number
  errors: number
  histogram: hdr.Histogram
  seconds: number
  /** events published per device (`type/id`) */
  perDevice: Map<string, number>
}

interface Progress {
  type: 'ready' | 'progress' | 'final' | 'failed'
  index: number
  published: number
  acked: number
  received: number
  unmatched: number
  errors: number
  histogram: string
  message?: string
  perDevice?: Record<string, number>
}

export const newHistogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 })

/**
 * Runs `generators` generator processes over one plan and merges what they
 * report into per-second totals and a run total. Several processes, so the
 * generator is never what limits the target.
 */
export async function runGenerators(plan: PoolPlan, onSecond: (s: SecondTotals) => void): Promise<PoolTotals> {
  const children: ChildProcess[] = []
  const last = new Map<number, Progress>()
  const finals = new Map<number, Progress>()
  let second: { published: number; acked: number; received: number; histogram: hdr.Histogram; reports: number } | null = null
  let startedAt = performance.now()
  const per = Math.ceil(plan.devicesPerType / plan.generators)
  try {
    const ready: Array<Promise<void>> = []
    const done: Array<Promise<void>> = []
    for (let index = 0; index < plan.generators; index++) {
      const child = fork(GENERATOR, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      children.push(child)
      let markReady!: () => void
      ready.push(new Promise((r) => (markReady = r)))
      done.push(
        new Promise((resolve, reject) => {
          child.on('message', (m: Progress) => {
            if (m.type === 'ready') markReady()
            else if (m.type === 'failed') reject(new Error(`generator ${index} failed: ${m.message}`))
            else if (m.type === 'final') finals.set(index, m)
            else if (m.type === 'progress') {
              const prev = last.get(index)
              last.set(index, m)
              second ??= { published: 0, acked: 0, received: 0, histogram: newHistogram(), reports: 0 }
              second.published += m.published - (prev?.published ?? 0)
              second.acked += m.acked - (prev?.acked ?? 0)
              second.received += m.received - (prev?.received ?? 0)
              second.histogram.add(hdr.decodeFromCompressedBase64(m.histogram))
              if (++second.reports === plan.generators) {
                onSecond({ t: Math.round((performance.now() - startedAt) / 1000), ...second })
                second = null
              }
            }
          })
          child.on('exit', (code) => (finals.has(index) ? resolve() : reject(new Error(`generator ${index} exited with ${code}`))))
        }),
      )
      const from = index * per
      const config: GeneratorConfig = {
        ...plan,
        index,
        from,
        to: Math.min(plan.devicesPerType, from + per),
        rate: plan.rate / plan.generators,
        seed: (plan.seed ?? 1) * 1000 + index,
      }
      child.send(config)
    }
    await Promise.all(ready)
    startedAt = performance.now()
    for (const child of children) child.send('go')
    await Promise.all(done)
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  }
  const histogram = newHistogram()
  const totals = { published: 0, acked: 0, received: 0, unmatched: 0, errors: 0 }
  const perDevice = new Map<string, number>()
  for (const f of finals.values()) {
    histogram.add(hdr.decodeFromCompressedBase64(f.histogram))
    for (const k of Object.keys(totals) as Array<keyof typeof totals>) totals[k] += f[k]
    for (const [key, n] of Object.entries(f.perDevice ?? {})) perDevice.set(key, n)
  }
  return { ...totals, histogram, seconds: (performance.now() - startedAt) / 1000, perDevice }
}
