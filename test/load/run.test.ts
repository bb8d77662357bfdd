import { spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { LoadReport } from '../../load/lib/types.ts'
import { ROOT } from '../support/env.ts'

const cleanup: string[] = []
afterEach(() => {
  for (const dir of cleanup.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** `npm run load -- ARGS` as a user runs it, with its own TMPDIR; resolves with its exit code and output. */
function load(args: string[], tmp: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'load/run.ts'), ...args], { cwd: ROOT, env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => (stdout += d))
  child.stderr.on('data', (d) => (stderr += d))
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })))
}

/** Processes whose command line mentions `text` (a mosquitto started with a config under our TMPDIR). */
function processesMentioning(text: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if (cmdline.includes(text)) found.push(`${pid}: ${cmdline}`)
    } catch {
      // gone meanwhile
    }
  }
  return found
}

describe('load/run.ts --broker mosquitto', () => {
  it('runs the steady scenario with the ceiling, the in-memory reference and the engine each on its own mosquitto, names it in the report, and leaves nothing behind', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'twin-load-run-'))
    cleanup.push(tmp)
    const run = await load(['--scenario', 'steady', '--broker', 'mosquitto', '--duration', '7', '--devices', '30', '--generators', '1', '--connections', '1'], tmp)
    expect(run.code, run.stderr.slice(-3000)).toBe(0)
    const markdown = /^(\/\S+\/report\.md)$/m.exec(run.stdout)?.[1]
    expect(markdown, run.stdout).toBeDefined()
    cleanup.push(dirname(markdown!))
    const report = JSON.parse(readFileSync(join(dirname(markdown!), 'report.json'), 'utf8')) as LoadReport

    expect(report.options.broker).toBe('mosquitto')
    expect(report.broker).toMatch(/^mosquitto 2\.\d+\.\d+, external: a fresh one per target and phase/)
    expect(readFileSync(markdown!, 'utf8')).toContain(`**Broker:** ${report.broker}`)
    // Both phases, all three targets; each got events through mosquitto, since devices publish only there.
    expect(report.results.map((r) => r.target)).toEqual(['broker-ceiling (max)', 'in-memory (max)', 'engine (max)', 'broker-ceiling', 'in-memory', 'engine'])
    const fixed = report.results.slice(3)
    expect(fixed.map((r) => r.description)).toEqual([
      'reference: mqtt.js publishers → mosquitto → one mqtt.js subscriber',
      'reference: mosquitto → MQTT subscriber → XState actor per device in a Map → WebSocket, no persistence',
      'twin-engine, one process (ingest subscribed to mosquitto by MQTT_URL, worker, api) + managed redis-server (AOF everysec) + mosquitto',
    ])
    // 7 s phases: 2 s measured after the 5 s warm-up; each target's throughput counted in that window.
    for (const r of report.results) {
      expect(r.published, r.target).toBeGreaterThan(0)
      expect(r.received, r.target).toBeGreaterThan(0)
      expect(r.throughput, r.target).toBeGreaterThan(0)
      expect(r.errors, r.target).toBe(0)
    }
    // At 100 events/s everything published arrives (in the closed loop the ceiling's sink may still be catching up when counted).
    for (const r of fixed) expect(r.received, r.target).toBe(r.published)
    // The targets are checked against this run's own references.
    expect(report.targets).toHaveLength(6)
    for (const t of report.targets) expect(typeof t.met, t.name).toBe('boolean')

    // Every mosquitto stopped and its folder removed.
    expect(readdirSync(tmp).filter((f) => f.startsWith('twin-test-mosquitto-'))).toEqual([])
    expect(processesMentioning(tmp)).toEqual([])
  }, 180_000)
})
