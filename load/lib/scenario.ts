import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { ROOT } from '../../test/support/env.ts'
import type { PoolPlan } from './generatorPool.ts'
import { brokerLabel, type Broker } from './targets.ts'
import type { LoadReport, TargetResult } from './types.ts'

/** The twins the load scenarios use: the shipped three plus the timers scenario's watchdog. */
export const LOAD_TWINS = join(ROOT, 'load/twins')
export const DEVICE_TYPES = ['elevator', 'meter', 'charger']

/** Options every scenario understands (`npm run load -- --help`). */
export interface ScenarioOptions {
  rate?: number
  duration: number
  devices?: number
  generators: number
  connections: number
  /** also measure the references (on by default) */
  references: boolean
  /** where devices publish (steady, ramp): each target's own aedes, or a mosquitto per target */
  broker: Broker
  [key: string]: unknown
}

export function machine(): LoadReport['machine'] {
  return { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memGb: Math.round(totalmem() / 1e9), node: process.version }
}

/** A generator plan over the shipped twins' simulated devices. */
export function simPlan(o: ScenarioOptions, devicesTotal: number, rate: number, durationS: number, extra: Partial<PoolPlan> = {}): PoolPlan {
  return {
    generators: o.generators,
    connections: o.connections,
    devicesPerType: Math.ceil(devicesTotal / DEVICE_TYPES.length),
    types: DEVICE_TYPES,
    idPrefix: 'load-',
    rate,
    window: 100,
    durationMs: durationS * 1000,
    source: 'sim',
    stamp: false,
    revOffset: 0,
    mqttUrl: '',
    ...extra,
  }
}

export function ratio(a: number, b: number): number {
  return b ? Math.round((a / b) * 100) / 100 : 0
}

export function byTarget(results: TargetResult[], name: string): TargetResult | undefined {
  return results.find((r) => r.target === name)
}

export function report(scenario: string, options: ScenarioOptions, results: TargetResult[], rest: Pick<LoadReport, 'ratios' | 'targets' | 'notes'>): LoadReport {
  return { scenario, date: new Date().toISOString(), machine: machine(), broker: brokerLabel(options.broker), options: { ...options }, results, ...rest }
}
