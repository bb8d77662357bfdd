import type { EventObject } from 'xstate'
import { evaluateCondition, evaluateValue, type Scope } from '../expression/evaluate.ts'
import { TIMER_ACCURATE_SECONDS, TIMER_MAX_SECONDS } from '../model/types.ts'
import type { CompiledAction, CompiledEvent, CompiledModel, CompiledState, CompiledTransition } from './compile.ts'
import { Draft, initialContext, type DetectorContext, type Trigger } from './context.ts'
import { renderEffect } from './effects.ts'

/** Type of the events a detector's timers raise (device events have no dots, so it cannot clash). */
export const TIMER_EVENT = 'iotevents.timer'
/** Engine timer id of IoT Events timer `name`. */
export const timerId = (name: string): string => `timer:${name}`


/** What a pass asks the engine to do, in the order AWS did it (A8). */
export type Effect = { kind: 'emit'; event: EventObject } | { kind: 'arm'; timer: string; delayMs: number } | { kind: 'disarm'; timer: string }

export interface PassResult {
  context: DetectorContext
  effects: Effect[]
  /** the XState guard of the transition the pass took, or null (the state stays) */
  take: string | null
}

export interface PassOptions {
  /** the twin definition's version: detectorModelVersion in payloads */
  version: number
  /** re-create every detector on the first message after a new version (AWS's UpdateDetectorModel) */
  resetOnUpdate: boolean
}

/**
 * One evaluation pass of a detector (SEMANTICS.md §5, A1-A9), pure: the same
 * (context, trigger, time) always gives the same result, so a replayed event
 * makes the same effects with the same actionExecutionIds.
 *
 * Order (A8): conditions -> onInput event actions -> the chosen transition's
 * actions -> the old state's onExit -> the state changes -> the new state's
 * onEnter; each group sees every earlier update. BATCH evaluates a group's
 * conditions before any of its actions; SERIAL evaluates and runs each event
 * in turn, then evaluates the transitions (A3).
 */
export function runPass(model: CompiledModel, context: DetectorContext, trigger: Trigger, at: number, options: PassOptions): PassResult {
  if (trigger.kind === 'timer' && context.timers[trigger.timer]?.dueAt !== at) {
    // A timer cleared or re-armed since: the engine normally drops these; nothing happens.
    return { context, effects: [], take: null }
  }
  const initialName = model.model.detectorModelDefinition.initialStateName
  let reset = false
  let start = context
  const effects: Effect[] = []
  if (context.detector.passes > 0 && context.detector.version !== options.version && options.resetOnUpdate) {
    // AWS re-created every detector on UpdateDetectorModel (§5.9): state, variables and timers start over.
    for (const [name, t] of Object.entries(context.timers)) if (t.dueAt !== null) effects.push({ kind: 'disarm', timer: name })
    start = initialContext(context.keyValue, initialName, options.version)
    reset = true
  }
  const pass = new Pass(model, new Draft(start), trigger, at, options, effects)
  const taken = pass.run()
  return { context: pass.draft.finish(), effects, take: reset ? model.names.resetGuards[pass.draft.ctx.stateName]! : (taken?.guard ?? null) }
}

class Pass implements Scope {
  readonly trigger: Scope['trigger']
  private readonly latched: Set<string>
  private readonly read = new Set<string>()
  private actionCount = 0

  constructor(
    private readonly model: CompiledModel,
    readonly draft: Draft,
    private readonly source: Trigger,
    private readonly at: number,
    private readonly options: PassOptions,
    private readonly effects: Effect[],
  ) {
    this.trigger = source.kind === 'message' ? { kind: 'message', input: source.input } : { kind: 'timer', timer: source.timer }
    this.latched = new Set(draft.ctx.detector.latched)
  }

  run(): CompiledTransition | null {
    const ctx = this.draft.ctx
    ctx.detector.version = this.options.version
    const source = this.source
    if (source.kind === 'message') {
      const input = this.model.model.inputs.find((i) => i.inputName === source.input)
      this.draft.storeMessage(source.input, source.message, input?.attributes ?? [])
    } else {
      ctx.timers[source.timer]!.dueAt = null
      this.latched.add(source.timer)
    }
    // A9: the creating message is seen by the initial state's onEnter, then runs its onInput pass.
    if (ctx.detector.passes === 0) this.group(this.state().onEnter)
    ctx.detector.passes++
    const taken = this.onInput(this.state())
    if (taken) {
      this.group(this.state().onExit)
      ctx.stateName = taken.next
      this.group(this.state().onEnter)
    }
    // A4: a latch read in this pass is spent; an unread one stays set.
    ctx.detector.latched = [...this.latched].filter((t) => !this.read.has(t)).sort()
    return taken
  }

  private state(): CompiledState {
    return this.model.states.get(this.draft.ctx.stateName)!
  }

  private condition(event: CompiledEvent): boolean {
    return event.condition === null || evaluateCondition(event.condition, this)
  }

  /** An onEnter or onExit group (D5/D6). */
  private group(events: CompiledEvent[]): void {
    if (this.model.serial) {
      for (const e of events) if (this.condition(e)) this.actions(e)
      return
    }
    const fired = events.filter((e) => this.condition(e))
    for (const e of fired) this.actions(e)
  }

  /** The onInput group: events, then the first true transition (an if/else-if chain, D4). */
  private onInput(state: CompiledState): CompiledTransition | null {
    if (this.model.serial) {
      for (const e of state.events) if (this.condition(e)) this.actions(e)
      const taken = state.transitions.find((t) => this.condition(t)) ?? null
      if (taken) this.actions(taken)
      return taken
    }
    const fired = state.events.filter((e) => this.condition(e))
    const taken = state.transitions.find((t) => this.condition(t)) ?? null
    for (const e of fired) this.actions(e)
    if (taken) this.actions(taken)
    return taken
  }

  private actions(event: CompiledEvent): void {
    for (const action of event.actions) this.action(action, event.name)
  }

  private action(action: CompiledAction, eventName: string): void {
    const ctx = this.draft.ctx
    switch (action.kind) {
      case 'setVariable': {
        const v = evaluateValue(action.value, this)
        // A6: an undefined or invalid value leaves the variable as it was (a variable cannot be unset).
        if (v !== undefined) this.draft.setVariable(action.name, v)
        return
      }
      case 'setTimer': {
        let seconds = action.seconds
        if (action.duration) {
          const v = evaluateValue(action.duration, this)
          const n = typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? Math.floor(v) : NaN
          // The expression is evaluated once and floored; out of range was a runtime error (no timer).
          if (!(n >= TIMER_ACCURATE_SECONDS && n <= TIMER_MAX_SECONDS)) return
          seconds = n
        }
        this.arm(action.name, seconds!)
        return
      }
      case 'resetTimer': {
        // A7: restarts with the last duration, if the timer was ever set in this detector.
        const t = ctx.timers[action.name]
        if (t) this.arm(action.name, t.seconds)
        return
      }
      case 'clearTimer': {
        this.latched.delete(action.name)
        const t = ctx.timers[action.name]
        if (t && t.dueAt !== null) {
          t.dueAt = null
          this.effects.push({ kind: 'disarm', timer: action.name })
        }
        return
      }
      default: {
        const n = this.actionCount++
        const event = renderEffect(action, this, { model: this.model.model, version: this.options.version, ctx, at: this.at, trigger: this.source, n })
        if (event) this.effects.push({ kind: 'emit', event })
      }
    }
  }

  private arm(name: string, seconds: number): void {
    this.latched.delete(name)
    this.draft.ctx.timers[name] = { seconds, dueAt: this.at + seconds * 1000 }
    this.effects.push({ kind: 'arm', timer: name, delayMs: seconds * 1000 })
  }

  // ---- Scope -------------------------------------------------------------

  variable(name: string) {
    return this.draft.variable(name)
  }

  input(input: string, path: readonly (string | number)[]) {
    return this.draft.input(input, path)
  }

  timeout(name: string): boolean {
    if (!this.latched.has(name)) return false
    this.read.add(name)
    return true
  }

  typedVariables() {
    return this.draft.typedVariables()
  }
}

export type { CompiledModel, Trigger }
