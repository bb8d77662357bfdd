import type { StateValue } from 'xstate'
import type { ReplayCause, ReplayStep, TwinRun } from './replay.ts'

/**
 * What-if replay's comparison (ADR 0012): one twin's run under the running
 * definition against its run under the candidate, over the same input from
 * the same state. Pure.
 */

/** A derived event, command or refusal with the time and cause of the step that produced it. */
export interface Produced<T> {
  at: number
  cause: ReplayCause
  item: T
}

export type DerivedItem = ReplayStep['derived'][number]
export type CommandItem = ReplayStep['commands'][number]
export type RefusalItem = NonNullable<ReplayStep['refused']>

/** One side of the first diverging step, in short. */
export interface StepSummary {
  cause: ReplayCause
  at: number
  value: StateValue | null
  context: unknown
  derived: string[]
  commands: string[]
  refused?: string
}

export interface TwinDifference {
  twin: string
  /** the twin's state at the end, when the two differ */
  state?: { running: { value: StateValue | null; context: unknown }; candidate: { value: StateValue | null; context: unknown } }
  /** derived events the candidate produces that the running definition does not (added), and the reverse (missing) */
  derived: { added: Array<Produced<DerivedItem>>; missing: Array<Produced<DerivedItem>> }
  commands: { added: Array<Produced<CommandItem>>; missing: Array<Produced<CommandItem>> }
  /** inputs one side refuses (dead letters) and the other does not, or refuses for another reason */
  refused: { added: Array<Produced<RefusalItem>>; missing: Array<Produced<RefusalItem>> }
  /** the first step at which the two differ: the same input taken differently, or a timer only one side fires */
  first: { at: number; running?: StepSummary; candidate?: StepSummary }
}

/** The twin's difference, or null when both runs are the same step for step. */
export function diffTwin(twin: string, running: TwinRun, candidate: TwinRun): TwinDifference | null {
  const first = firstDivergence(running.steps, candidate.steps)
  if (!first) return null
  const end = (r: TwinRun) => ({ value: r.record?.v ?? null, context: r.record ? lastContext(r) : null })
  const a = end(running)
  const b = end(candidate)
  const difference: TwinDifference = {
    twin,
    derived: added(running.steps, candidate.steps, (s) => s.derived),
    commands: added(running.steps, candidate.steps, (s) => s.commands),
    refused: added(running.steps, candidate.steps, (s) => (s.refused ? [s.refused] : []), (r) => r.code),
    first,
  }
  if (key(a) !== key(b)) difference.state = { running: a, candidate: b }
  return difference
}

/** The context of the last step (as apps see it), or of the record when the run had no step. */
function lastContext(run: TwinRun): unknown {
  return run.steps.length ? run.steps[run.steps.length - 1]!.context : run.record?.c
}

/** The first index at which the step lists differ, summarised on both sides. */
function firstDivergence(a: readonly ReplayStep[], b: readonly ReplayStep[]): TwinDifference['first'] | null {
  const n = Math.max(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a[i]
    const y = b[i]
    if (x && y && stepKey(x) === stepKey(y)) continue
    return { at: Math.min(x?.at ?? Infinity, y?.at ?? Infinity), running: x && summary(x), candidate: y && summary(y) }
  }
  return null
}

function summary(s: ReplayStep): StepSummary {
  const out: StepSummary = { cause: s.cause, at: s.at, value: s.value, context: s.context, derived: s.derived.map((d) => d.name), commands: s.commands.map((c) => `${c.kind === 'sent' ? 'sent' : 'asked'} ${c.name} -> ${c.to}`) }
  if (s.refused) out.refused = s.refused.code
  return out
}

/** What one side produced and the other did not, matched by time, cause and content (a multiset difference). */
function added<T>(running: readonly ReplayStep[], candidate: readonly ReplayStep[], items: (s: ReplayStep) => readonly T[], identity: (item: T) => unknown = (item) => item): { added: Array<Produced<T>>; missing: Array<Produced<T>> } {
  const collect = (steps: readonly ReplayStep[]) => {
    const all = new Map<string, Array<Produced<T>>>()
    for (const s of steps) {
      for (const item of items(s)) {
        const k = key([s.at, causeKey(s.cause), identity(item)])
        const list = all.get(k) ?? []
        list.push({ at: s.at, cause: s.cause, item })
        all.set(k, list)
      }
    }
    return all
  }
  const a = collect(running)
  const b = collect(candidate)
  const only = (x: Map<string, Array<Produced<T>>>, y: Map<string, Array<Produced<T>>>) => {
    const out: Array<Produced<T>> = []
    for (const [k, list] of x) out.push(...list.slice(y.get(k)?.length ?? 0))
    return out.sort((p, q) => p.at - q.at)
  }
  return { added: only(b, a), missing: only(a, b) }
}

/** A step's identity for comparison: cause, state, context, timers and every effect (refusal by code). */
function stepKey(s: ReplayStep): string {
  return key([causeKey(s.cause), s.at, s.value, s.context, s.timers, s.derived, s.commands, s.feeds, s.refused?.code ?? null])
}

/** Inputs by inbox id; timers by their event and due time (timer ids carry arming counters). */
export function causeKey(c: ReplayCause): string {
  return c.kind === 'input' ? `input ${c.id}` : `timer ${c.event}@${c.due}`
}

function key(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (v === undefined ? null : v))
}
