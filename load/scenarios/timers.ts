import WebSocket from 'ws'
import { newHistogram, runGenerators } from '../lib/generatorPool.ts'
import { ProcSampler } from '../lib/procStats.ts'
import { percentilesOf } from '../lib/report.ts'
import { LOAD_TWINS, report, simPlan, type ScenarioOptions } from '../lib/scenario.ts'
import { Redis } from 'ioredis'
import { Keys, shardRange } from '../../src/store/keys.ts'
import { engineTarget } from '../lib/targets.ts'
import type { LoadReport, Sample } from '../lib/types.ts'

/**
 * `timers`: every event re-arms a watchdog. 1M watchdog twins each get one
 * `ping`, leaving 1M pending durable timers, all due after the preload; then
 * they fire. How late each fires = when its change reaches a WebSocket
 * subscriber − its due time (the change's `updatedAt` is the due time).
 */
export async function timers(o: ScenarioOptions): Promise<LoadReport> {
  const twins = Number(o.twins ?? 1_000_000)
  // Due once the preload is surely over (assume ≥ 5K events/s), spread as it was.
  const delayMs = Number(o.delay ?? Math.max(30_000, Math.round((twins / 5000) * 1000)))
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
    const started = performance.now()
    await runGenerators({ ...simPlan(o, twins, 0, 3600), types: ['watchdog'], devicesPerType: twins, once: true, mqttUrl: target.mqttUrl, source: { event: 'ping', payload: { ms: delayMs } } }, (s) => {
      process.stderr.write(`\rpreload ${s.t}s  pinged ${s.acked}/s   `)
    })
    const preloadS = (performance.now() - started) / 1000
    const pending = await pendingTimers(target.redisUrl!)
    const status = await target.engine!.get('/health')
    process.stderr.write(`\npreloaded ${twins} watchdogs in ${preloadS.toFixed(0)} s; waiting for them to fire\n`)

    const sampler = new ProcSampler(target.pids)
    const samples: Sample[] = []
    let lastFired = 0
    const deadline = performance.now() + delayMs + preloadS * 1000 + 120_000
    while (fired < twins && performance.now() < deadline) {
      await new Promise((r) => setTimeout(r, 1000))
      const proc = sampler.sample(1)
      const p = (v: number) => (second.totalCount ? Math.round(second.getValueAtPercentile(v) / 10) / 100 : 0)
      samples.push({ t: samples.length + 1, published: 0, received: fired - lastFired, p50: p(50), p99: p(99), ...proc })
      process.stderr.write(`\rfiring ${samples.length}s  fired ${fired}/${twins}  p99 late ${p(99)} ms  cpu ${proc.cpuPercent}%   `)
      lastFired = fired
      second = newHistogram()
    }
    process.stderr.write('\n')
    const late = percentilesOf(lateness)
    return report('timers', { ...o, twins, delayMs }, [{
      target: 'engine',
      description: `${twins} durable timers firing (watchdog twins)`,
      targetRate: 0,
      durationS: samples.length,
      published: twins,
      received: fired,
      throughput: Math.round(fired / Math.max(1, samples.filter((s) => s.received > 0).length)),
      latency: late,
      errors: twins - fired,
      cpuSecondsPerEvent: fired ? sampler.cpuSeconds() / fired : undefined,
      peakRssMb: Math.round(sampler.peakRssMb),
      samples,
      extra: { pendingTimersAfterPreload: pending, preloadSeconds: Math.round(preloadS), activeTwinsInMemory: status?.worker?.activeTwins },
    }], {
      ratios: {},
      targets: [
        { name: `p99 timer firing delay with ${twins} pending`, goal: '≤ 100 ms', measured: `${late.p99} ms`, met: late.p99 <= 100 },
        { name: 'every timer fired', goal: `${twins}`, measured: `${fired}`, met: fired === twins },
      ],
      notes: [`each twin pinged once with a ${delayMs} ms watchdog; lateness includes the change notice's way to the WebSocket client`],
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
