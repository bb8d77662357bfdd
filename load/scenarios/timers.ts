import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { shardRange } from '../../src/model/ids.ts'
import { Keys } from '../../src/store/keys.ts'
import { newHistogram, runGenerators } from '../lib/generatorPool.ts'
import { ProcSampler } from '../lib/procStats.ts'
import { percentilesOf } from '../lib/report.ts'
import { LOAD_TWINS, report, simPlan, type ScenarioOptions } from '../lib/scenario.ts'
import { engineTarget } from '../lib/targets.ts'
import type { LoadReport, Sample } from '../lib/types.ts'

const BACKGROUND_DELAY_MS = 3_600_000

/**
 * `timers`: how late durable timers fire while 1M others are pending.
 *
 * 1. Background: 1M watchdog twins each get one `ping` re-arming an hour-long
 *    watchdog — 1M pending timers that stay pending for the whole run.
 * 2. Probe: `--probes` more watchdogs (default 20,000) are pinged at `--rate`
 *    (default 500/s) with a `--delay` watchdog (default 5 s), so their timers
 *    fall due at that steady rate among the 1M. Each firing's lateness = when
 *    its change reaches a WebSocket subscriber − its due time (the change's
 *    `updatedAt` is the due time).
 */
export async function timers(o: ScenarioOptions): Promise<LoadReport> {
  const twins = Number(o.twins ?? 1_000_000)
  const probes = Number(o.probes ?? 20_000)
  const rate = o.rate ?? 500
  const delayMs = Number(o.delay ?? 5000)
  const target = await engineTarget({ TWINS_DIR: LOAD_TWINS, TWIN_CACHE_SIZE: '100000' })
  const ws = new WebSocket(target.wsUrl!)
  try {
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    const lateness = newHistogram()
    let second = newHistogram()
    let fired = 0
    ws.on('message', (data) => {
      const text = data.toString()
      if (!text.includes('"value":"silent"')) return
      const { twin } = JSON.parse(text) as { twin: { updatedAt: number } }
      const us = Math.max(1, Math.round((Date.now() - twin.updatedAt) * 1000))
      lateness.recordValue(us)
      second.recordValue(us)
      fired++
    })
    ws.send(JSON.stringify({ op: 'subscribe', id: 'w', type: 'watchdog' }))
    const watchdogs = { ...simPlan(o, twins, 0, 3600), types: ['watchdog'], once: true, mqttUrl: target.mqttUrl }
    const started = performance.now()
    await runGenerators({ ...watchdogs, devicesPerType: twins, idPrefix: 'bg-', source: { event: 'ping', payload: { ms: BACKGROUND_DELAY_MS } } }, (s) => {
      process.stderr.write(`\rbackground ${s.t}s  pinged ${s.acked}/s   `)
    })
    const preloadS = (performance.now() - started) / 1000
    const pending = await pendingTimers(target.redisUrl!)
    process.stderr.write(`\n${pending} timers pending after ${preloadS.toFixed(0)} s; probing with ${probes} more\n`)

    const sampler = new ProcSampler(target.pids)
    const samples: Sample[] = []
    let lastFired = 0
    const tick = setInterval(() => {
      const proc = sampler.sample(1)
      const p = (v: number) => (second.totalCount ? Math.round(second.getValueAtPercentile(v) / 10) / 100 : 0)
      samples.push({ t: samples.length + 1, published: 0, received: fired - lastFired, p50: p(50), p99: p(99), ...proc })
      process.stderr.write(`\rprobe ${samples.length}s  fired ${fired}/${probes}  p99 late ${p(99)} ms  cpu ${proc.cpuPercent}%   `)
      lastFired = fired
      second = newHistogram()
    }, 1000)
    await runGenerators({ ...watchdogs, devicesPerType: probes, idPrefix: 'probe-', rate, source: { event: 'ping', payload: { ms: delayMs } } }, () => {})
    const deadline = performance.now() + delayMs + 60_000
    while (fired < probes && performance.now() < deadline) await new Promise((r) => setTimeout(r, 200))
    clearInterval(tick)
    process.stderr.write('\n')
    const late = percentilesOf(lateness)
    return report('timers', { ...o, twins, probes, rate, delayMs }, [{
      target: 'engine',
      description: `${probes} watchdogs firing at ${rate}/s among ${pending} pending durable timers`,
      targetRate: rate,
      durationS: samples.length,
      published: probes,
      received: fired,
      throughput: Math.round(fired / Math.max(1, samples.filter((s) => s.received > 0).length)),
      latency: late,
      errors: probes - fired,
      cpuSecondsPerEvent: fired ? sampler.cpuSeconds() / fired : undefined,
      peakRssMb: Math.round(sampler.peakRssMb),
      samples,
      extra: { pendingTimers: pending, backgroundPreloadSeconds: Math.round(preloadS), backgroundPreloadRate: Math.round(twins / preloadS) },
    }], {
      ratios: {},
      targets: [
        { name: `p99 timer firing delay with ${pending} pending`, goal: '≤ 100 ms', measured: `${late.p99} ms`, met: late.p99 <= 100 },
        { name: 'every probe timer fired', goal: `${probes}`, measured: `${fired}`, met: fired === probes },
      ],
      notes: [`background: ${twins} watchdogs of ${BACKGROUND_DELAY_MS / 60_000} min; probe: ${probes} watchdogs of ${delayMs} ms pinged at ${rate}/s; lateness includes the change notice's way to the WebSocket client`],
    })
  } finally {
    ws.close()
    await target.stop()
  }
}

/** Durable timers waiting in the engine's Redis (all shards). */
async function pendingTimers(url: string): Promise<number> {
  const redis = new Redis(url)
  try {
    const keys = new Keys()
    const counts = await Promise.all(shardRange(64).map((shard) => redis.zcard(keys.shard(shard).timers)))
    return counts.reduce((a, b) => a + b, 0)
  } finally {
    redis.disconnect()
  }
}
