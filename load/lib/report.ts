/**
 * Turns a LoadReport into the files a run leaves behind: the raw JSON (for
 * comparing runs by script), a Markdown summary (for the issue or PR), and a
 * throughput/latency chart as SVG and PNG (PNG because GitHub Markdown does
 * not render SVG reliably from a relative link).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Resvg } from '@resvg/resvg-js'
import type { Histogram } from 'hdr-histogram-js'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import type { LoadReport, Percentiles, TargetResult } from './types.ts'

/** Writes report.json, report.md, chart.svg and chart.png into `dir` (created if missing); returns their paths. */
export async function writeReport(dir: string, report: LoadReport): Promise<{ json: string; markdown: string; svg: string; png: string }> {
  await mkdir(dir, { recursive: true })
  const paths = { json: join(dir, 'report.json'), markdown: join(dir, 'report.md'), svg: join(dir, 'chart.svg'), png: join(dir, 'chart.png') }
  const svg = await renderChartSvg(report)
  // twice the SVG's size so the PNG stays sharp on high-density screens, where GitHub shows it scaled down
  const png = new Resvg(svg, { background: 'white', fitTo: { mode: 'zoom', value: 2 } }).render().asPng()
  await Promise.all([
    writeFile(paths.json, JSON.stringify(report, null, 2) + '\n'),
    writeFile(paths.markdown, renderMarkdown(report)),
    writeFile(paths.svg, svg),
    writeFile(paths.png, png),
  ])
  return paths
}

/** Percentiles of a latency histogram recorded in microseconds, in milliseconds with 2 decimals. */
export function percentilesOf(histogram: Histogram): Percentiles {
  const count = histogram.totalCount
  if (count === 0) return { count: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0, mean: 0 }
  const ms = (us: number) => Math.round(us / 10) / 100
  return {
    count,
    p50: ms(histogram.getValueAtPercentile(50)),
    p90: ms(histogram.getValueAtPercentile(90)),
    p99: ms(histogram.getValueAtPercentile(99)),
    p999: ms(histogram.getValueAtPercentile(99.9)),
    max: ms(histogram.maxValue),
    mean: ms(histogram.mean),
  }
}

interface Column {
  title: string
  value: (r: TargetResult) => string | number | undefined
}

const RESULT_COLUMNS: Column[] = [
  { title: 'target', value: (r) => r.target },
  { title: 'description', value: (r) => r.description },
  { title: 'target rate', value: (r) => (r.targetRate === 0 ? 'max' : r.targetRate) },
  { title: 'duration s', value: (r) => r.durationS },
  { title: 'published', value: (r) => r.published },
  { title: 'received', value: (r) => r.received },
  { title: 'throughput (events/s)', value: (r) => Math.round(r.throughput) },
  { title: 'p50 ms', value: (r) => r.latency.p50 },
  { title: 'p90 ms', value: (r) => r.latency.p90 },
  { title: 'p99 ms', value: (r) => r.latency.p99 },
  { title: 'p99.9 ms', value: (r) => r.latency.p999 },
  { title: 'max ms', value: (r) => r.latency.max },
  { title: 'errors', value: (r) => r.errors },
  { title: 'dead letters', value: (r) => r.deadLetters },
  { title: 'unmatched', value: (r) => r.unmatched },
  { title: 'CPU µs/event', value: (r) => (r.cpuSecondsPerEvent === undefined ? undefined : round(r.cpuSecondsPerEvent * 1e6, 1)) },
  { title: 'peak RSS MB', value: (r) => (r.peakRssMb === undefined ? undefined : round(r.peakRssMb, 0)) },
]

/** The Markdown summary; sections with nothing in them are left out. */
export function renderMarkdown(report: LoadReport): string {
  const { cpus, cpuModel, memGb, node } = report.machine
  const out: string[] = [
    `# Load report: ${report.scenario} — ${report.date}`,
    '',
    `**Machine:** ${cpus} × ${cpuModel}, ${memGb} GB RAM, Node ${node}`,
    '',
    `**Broker:** ${report.broker}`,
    '',
  ]

  const options = Object.entries(report.options)
  if (options.length > 0) {
    // one header row and one value row: a run has a dozen options, a row per option would dominate the page
    out.push('## Options', '', ...table(options.map(([k]) => k), [options.map(([, v]) => v)]), '')
  }

  // optional measurements (dead letters, CPU...) only exist for some targets; a column nobody has is noise
  const columns = RESULT_COLUMNS.filter((c) => report.results.some((r) => c.value(r) !== undefined))
  out.push('## Results', '', ...table(columns.map((c) => c.title), report.results.map((r) => columns.map((c) => c.value(r)))), '')

  const ratios = Object.entries(report.ratios)
  if (ratios.length > 0) out.push('## Ratios', '', ...ratios.map(([name, v]) => `- ${name} = ${round(v, 2)}`), '')

  if (report.targets.length > 0) {
    const rows = report.targets.map((t) => [t.name, t.goal, t.measured, t.met === null ? '—' : t.met ? '✅' : '❌'])
    out.push('## Targets', '', ...table(['name', 'goal', 'measured', 'met'], rows), '')
  }

  const extras = report.results.filter((r) => r.extra && Object.keys(r.extra).length > 0)
  if (extras.length > 0) {
    out.push('## Details', '')
    for (const r of extras) {
      out.push(`**${r.target}**`, '', ...Object.entries(r.extra!).map(([k, v]) => `- ${k}: ${cell(v)}`), '')
    }
  }

  if (report.notes.length > 0) out.push('## Notes', '', ...report.notes.map((n) => `- ${n}`), '')
  out.push('![chart](chart.png)', '')
  return out.join('\n')
}

function table(header: string[], rows: unknown[][]): string[] {
  const line = (cells: unknown[]) => `| ${cells.map(cell).join(' | ')} |`
  return [line(header), `|${header.map(() => ' --- |').join('')}`, ...rows.map(line)]
}

function cell(v: unknown): string {
  const text = v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v)
  // a pipe or newline inside a value would break the table row
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ')
}

function round(v: number, decimals: number): number {
  const f = 10 ** decimals
  return Math.round(v * f) / f
}

const FONT = 'Helvetica, Arial, Liberation Sans, DejaVu Sans, sans-serif'

/** The vega-lite spec of the chart: throughput per second on top, p99 latency per second below, x shared. */
export function chartSpec(report: LoadReport): TopLevelSpec {
  const throughput: Array<{ t: number; target: string; series: string; value: number }> = []
  const latency: Array<{ t: number; target: string; p99: number }> = []
  for (const r of report.results) {
    for (const s of r.samples) {
      throughput.push({ t: s.t, target: r.target, series: 'received', value: s.received })
      if (r.target === 'engine') throughput.push({ t: s.t, target: r.target, series: 'published', value: s.published })
      // a second in which nothing arrived has no latency; plotting its 0 would fake a fast second (and break a log scale)
      if (s.received > 0 && s.p99 > 0) latency.push({ t: s.t, target: r.target, p99: s.p99 })
    }
  }
  const p99s = latency.map((l) => l.p99)
  // a stall of seconds next to millisecond steady state flattens a linear axis to a line on the floor
  const logY = p99s.length > 0 && Math.max(...p99s) / Math.min(...p99s) > 100
  const x = { field: 't', type: 'quantitative', title: 'seconds' } as const
  const color = { field: 'target', type: 'nominal', title: 'target' } as const
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: `${report.scenario} — ${report.date}`,
    background: 'white',
    // resvg does not map the generic 'sans-serif' to a sans font where Arial is missing (it falls back to a serif), so name common ones first
    config: { font: FONT, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12 } },
    resolve: { scale: { x: 'shared', color: 'shared' } },
    vconcat: [
      {
        title: 'Throughput per second',
        width: 760,
        height: 220,
        data: { values: throughput },
        mark: { type: 'line', strokeWidth: 1.5 },
        encoding: {
          x,
          y: { field: 'value', type: 'quantitative', title: 'events/s' },
          color,
          strokeDash: {
            field: 'series',
            type: 'nominal',
            title: 'line',
            scale: { domain: ['received', 'published'], range: [[1, 0], [6, 4]] },
            // the default legend symbol is too short to show a dash
            legend: { symbolType: 'stroke', symbolSize: 500, symbolStrokeWidth: 2 },
          },
        },
      },
      {
        title: 'p99 latency per second',
        width: 760,
        height: 220,
        data: { values: latency },
        mark: { type: 'line', strokeWidth: 1.5 },
        encoding: {
          x,
          y: {
            field: 'p99',
            type: 'quantitative',
            title: logY ? 'p99 ms (log)' : 'p99 ms',
            scale: { type: logY ? 'log' : 'linear' },
            // vega's default log ticks put a grid line at every 1-9 multiple, crowding the labels
            axis: logY ? { tickCount: 5 } : {},
          },
          color,
        },
      },
    ],
  }
}

async function renderChartSvg(report: LoadReport): Promise<string> {
  const { spec } = compile(chartSpec(report))
  const view = new vega.View(vega.parse(spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}
