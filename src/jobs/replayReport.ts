import type { ReplayCause } from '../core/replay.ts'
import type { StepSummary, TwinDifference } from '../core/replayDiff.ts'
import type { ReplayReport } from './replay.ts'

/** Differences shown per twin and per kind in the text report (all are in --json). */
const SHOWN = 5

/** The replay report as lines for a terminal. */
export function formatReplayReport(r: ReplayReport): string {
  const lines = [
    `replay of "${r.type}": candidate v${r.versions.candidate} against running v${r.versions.running}, ${iso(r.window.from)} to ${iso(r.window.until)}${r.window.partial ? ` (retained since then only; asked from ${iso(r.window.asked)})` : ''}`,
    `${r.twins} twins, ${r.inputs} inputs in the window, over ${r.shards} shards: ${r.differ} differ, ${r.same} the same (${r.steps} steps in ${r.seconds} s, ${r.stepsPerSecond} steps/s)`,
  ]
  const t = r.totals
  if (r.differ) lines.push(`derived events +${t.derivedAdded} -${t.derivedMissing}, commands +${t.commandsAdded} -${t.commandsMissing}, refused +${t.refusedAdded} -${t.refusedMissing} (+ candidate only, - running only)`)
  for (const d of r.differences) lines.push(...twinLines(d))
  if (r.differ > r.differences.length) lines.push(`… and ${r.differ - r.differences.length} more twins differ (--json lists up to its limit)`)
  return lines.join('\n')
}

function twinLines(d: TwinDifference): string[] {
  const out = [`${d.twin}:`]
  out.push(`  first differs at ${iso(d.first.at)}: ${side('running', d.first.running)}; ${side('candidate', d.first.candidate)}`)
  if (d.state) out.push(`  ends ${state(d.state.running)} (running), ${state(d.state.candidate)} (candidate)`)
  const list = (label: string, sign: string, items: Array<{ at: number; item: { name?: string; code?: string } }>) => {
    if (!items.length) return
    const shown = items.slice(0, SHOWN).map((p) => `${p.item.name ?? p.item.code} at ${iso(p.at)}`).join(', ')
    out.push(`  ${sign} ${label}: ${shown}${items.length > SHOWN ? `, … ${items.length - SHOWN} more` : ''}`)
  }
  list('derived events', '+', d.derived.added)
  list('derived events', '-', d.derived.missing)
  list('commands', '+', d.commands.added)
  list('commands', '-', d.commands.missing)
  list('refused', '+', d.refused.added)
  list('refused', '-', d.refused.missing)
  return out
}

function side(name: string, s: StepSummary | undefined): string {
  if (!s) return `${name}: no such step`
  const effects = [...s.derived.map((e) => `emits ${e}`), ...s.commands, ...(s.refused ? [`refuses ${s.refused}`] : [])]
  return `${name} ${cause(s.cause)} -> ${JSON.stringify(s.value)}${effects.length ? ` (${effects.join(', ')})` : ''}`
}

function cause(c: ReplayCause): string {
  return c.kind === 'input' ? `"${c.event}" (${c.id})` : `timer "${c.event}"`
}

function state(s: { value: unknown; context: unknown }): string {
  const context = JSON.stringify(s.context)
  return `${JSON.stringify(s.value)} ${context && context.length > 160 ? `${context.slice(0, 160)}…` : context}`
}

function iso(ms: number): string {
  return new Date(ms).toISOString()
}
