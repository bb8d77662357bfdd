import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as hdr from 'hdr-histogram-js'
import { afterEach, describe, expect, it } from 'vitest'
import { percentilesOf, renderMarkdown, writeReport } from '../../load/lib/report.ts'
import type { LoadReport, Sample, TargetResult } from '../../load/lib/types.ts'

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

/** 1000 values of 1 ms and 10 of 50 ms, recorded in microseconds. */
function knownHistogram() {
  const h = hdr.build()
  for (let i = 0; i < 1000; i++) h.recordValue(1000)
  for (let i = 0; i < 10; i++) h.recordValue(50_000)
  return h
}

function samples(rate: number, p99: number): Sample[] {
  return Array.from({ length: 30 }, (_, t) => ({ t, published: rate + 50, received: rate + (t % 5) * 10, p50: p99 / 4, p99: t === 20 ? p99 * 300 : p99 }))
}

function result(target: string, rate: number, extra: Partial<TargetResult> = {}): TargetResult {
  return {
    target,
    description: `${target} under test`,
    targetRate: 0,
    durationS: 30,
    published: rate * 30,
    received: rate * 30,
    throughput: rate,
    latency: percentilesOf(knownHistogram()),
    errors: 0,
    samples: samples(rate, target === 'engine' ? 5 : 1),
    ...extra,
  }
}

function report(): LoadReport {
  return {
    scenario: 'steady-meters',
    date: '2025-01-15T10:00:00Z',
    machine: { cpus: 8, cpuModel: 'Test CPU', memGb: 16, node: 'v20.20.2' },
    broker: 'mosquitto 2.0.11, external',
    options: { events: 300_000, devices: 1000 },
    results: [
      result('engine', 4200, { deadLetters: 3, cpuSecondsPerEvent: 0.000042, extra: { redisBytesPerTwin: 812 } }),
      result('broker-ceiling', 10_000),
    ],
    ratios: { 'engine ÷ broker-ceiling': 0.42 },
    targets: [
      { name: 'throughput', goal: '≥ 10000 events/s', measured: '4200', met: false },
      { name: 'p99', goal: '< 50 ms', measured: '1 ms', met: true },
      { name: 'recovery', goal: '< 5 s', measured: 'not measured', met: null },
    ],
    notes: ['run on a laptop'],
  }
}

describe('percentilesOf', () => {
  it('converts microseconds to milliseconds with two decimals', () => {
    const p = percentilesOf(knownHistogram())
    expect(p.count).toBe(1010)
    expect(p.p50).toBe(1)
    expect(p.p90).toBe(1)
    expect(p.p99).toBe(1)
    // HDR reports the top of the bucket holding 50 000 µs, within its 3 significant digits
    expect(p.p999).toBeCloseTo(50, 0)
    expect(p.max).toBe(50)
    expect(p.mean).toBe(1.49)
  })

  it('is all zeros for an empty histogram', () => {
    expect(percentilesOf(hdr.build())).toEqual({ count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 })
  })
})

describe('writeReport', () => {
  let dir: string | undefined
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
    dir = undefined
  })

  it('writes the JSON, Markdown, SVG and PNG into a directory it creates', async () => {
    dir = mkdtempSync(join(tmpdir(), 'twin-report-'))
    const paths = await writeReport(join(dir, 'nested', 'run'), report())

    for (const path of Object.values(paths)) expect(existsSync(path)).toBe(true)
    expect(JSON.parse(readFileSync(paths.json, 'utf8'))).toEqual(report())

    const png = readFileSync(paths.png)
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true)
    expect(statSync(paths.png).size).toBeGreaterThan(20_000)
    expect(statSync(paths.png).size).toBeLessThan(2_000_000)

    const svg = readFileSync(paths.svg, 'utf8')
    expect(svg).toMatch(/^<svg/)
    expect(svg).toContain('Throughput per second')
    expect(svg).toContain('p99 ms (log)')

    const md = readFileSync(paths.markdown, 'utf8')
    expect(md).toBe(renderMarkdown(report()))
    expect(md).toContain('# Load report: steady-meters — 2025-01-15T10:00:00Z')
    expect(md).toContain('**Broker:** mosquitto 2.0.11, external')
    expect(md).toContain('| target | description | target rate | duration s | published | received | throughput (events/s) | p50 ms |')
    expect(md).toContain('| engine | engine under test | max | 30 | 126000 | 126000 | 4200 | 1 | 1 | 1 | 50.02 | 50 | 0 | 3 | 42 |')
    expect(md).toContain('| broker-ceiling |')
    expect(md).toContain('- engine ÷ broker-ceiling = 0.42')
    expect(md).toContain('| throughput | ≥ 10000 events/s | 4200 | ❌ |')
    expect(md).toContain('| p99 | < 50 ms | 1 ms | ✅ |')
    expect(md).toContain('| recovery | < 5 s | not measured | — |')
    expect(md).toContain('- redisBytesPerTwin: 812')
    expect(md).toContain('- run on a laptop')
    expect(md).toContain('![chart](chart.png)')
  })

  it('leaves out columns no result has', () => {
    const md = renderMarkdown(report())
    expect(md).toContain('dead letters')
    expect(md).toContain('CPU µs/event')
    expect(md).not.toContain('unmatched')
    expect(md).not.toContain('peak RSS MB')
  })

  it('still writes valid files when there are no samples', async () => {
    dir = mkdtempSync(join(tmpdir(), 'twin-report-'))
    const empty = { ...report(), results: report().results.map((r) => ({ ...r, samples: [] })) }
    const paths = await writeReport(dir, empty)
    expect(readFileSync(paths.png).subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true)
    expect(readFileSync(paths.svg, 'utf8')).toMatch(/^<svg/)
  })
})
