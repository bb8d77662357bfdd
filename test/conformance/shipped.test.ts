/**
 * Property-based conformance of the shipped twins (twins/*.ts) and rules
 * (rules/*.ts) with plain XState 5 (reference.ts): random device events with
 * payloads generated from each event's JSON Schema, rule feeds shaped as the
 * engine routes them, and time advances around each machine's own delays.
 *
 * - In memory: the rule author's test kit (`createTwinHarness`,
 *   `createRuleHarness` from twin-engine/testing), which runs the engine's
 *   own step, against XState after every step: state value, context (as
 *   stored and as JSON), pending timers, derived events, commands, refusals.
 * - With restores: the same kind of scripts through a real worker on Redis in
 *   each of the four modes of run.ts (live, reloaded before each event,
 *   restarted after each event, as a backlog), compared as features.test.ts
 *   compares them; restores read the record back from Redis.
 *
 * Set FC_SEED (and FC_PATH) to replay a failure fast-check reports.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ruleAsTwin, type RuleDefinition } from '../../src/definitions/defineRule.ts'
import type { TwinDefinition } from '../../src/definitions/defineTwin.ts'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import { TwinError } from '../../src/errors.ts'
import { toJsonValue } from '../../src/model/values.ts'
import { createRuleHarness, createTwinHarness, VirtualClock } from '../../src/public/testing.ts'
import buildingElevators from '../../rules/building-elevator-availability.ts'
import meterAreaOutage from '../../rules/meter-area-outage.ts'
import siteChargingLoad, { ACTIVE_STATES } from '../../rules/site-charging-load.ts'
import charger, { STATUSES } from '../../twins/charger.ts'
import elevator from '../../twins/elevator.ts'
import meter from '../../twins/meter.ts'
import { advance, deviceEvent, feed, script, type FeedShape } from './arbitraries.ts'
import { EngineHarness } from './engine.ts'
import { json, timerName, type CommandView, type ScriptStep } from './observation.ts'
import { ReferenceTwin } from './reference.ts'
import { conformance, describeStep, MODES } from './run.ts'

const START = Date.UTC(2026, 0, 1)
/** Scripts per property: many in memory (microseconds a step), few through Redis (each its own engine). */
const RUNS_IN_MEMORY = 150
const RUNS_REDIS = 5
const params = (numRuns: number): fc.Parameters<unknown> => ({
  numRuns,
  ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED), path: process.env.FC_PATH } : {}),
})

interface TwinCase {
  twin: TwinDefinition
  first: ScriptStep
  delays: number[]
}

const TWINS: TwinCase[] = [
  { twin: elevator, first: { send: 'heartbeat', payload: {} }, delays: [60_000, 90_000, 120_000] },
  { twin: meter, first: { send: 'reading', payload: { energyKwh: 100, powerW: 1000 } }, delays: [120_000, 300_000] },
  { twin: charger, first: { send: 'heartbeat', payload: {} }, delays: [600_000] },
]

interface RuleCase {
  rule: RuleDefinition
  group: string
  first: ScriptStep
  feeds: FeedShape[]
  delays: number[]
}

const SITE = 's1'
const chargerFeed: FeedShape = {
  type: 'charger',
  ids: ['c1', 'c2', 'c3'],
  events: ['changed'],
  values: STATUSES,
  context: fc.record({ online: fc.boolean(), powerW: fc.option(fc.integer({ min: 0, max: 22_000 }), { nil: null }) }),
  attributes: fc.constantFrom({ site: SITE }, { site: SITE }, { site: 's2' }),
}
const gridFeed: FeedShape = {
  type: 'meter',
  ids: ['m1', 'm2'],
  events: ['changed'],
  values: ['withinLimit', 'aboveLimit', 'overconsumption'],
  context: fc.record({ limitW: fc.integer({ min: 5000, max: 60_000 }), lastPowerW: fc.option(fc.integer({ min: 0, max: 90_000 }), { nil: null }), online: fc.boolean() }),
  attributes: fc.constantFrom<Record<string, string>>({ site: SITE, role: 'grid' }, { site: SITE, role: 'grid' }, { site: SITE }, { site: 's2', role: 'grid' }),
}

const RULES: RuleCase[] = [
  {
    rule: siteChargingLoad,
    group: SITE,
    first: { send: 'charger.changed', payload: { twinId: 'c1', value: ACTIVE_STATES[0], context: { online: true, powerW: 11_000 }, attributes: { site: SITE }, sourceAt: START } },
    feeds: [chargerFeed, gridFeed],
    delays: [15_000, 60_000],
  },
  {
    rule: buildingElevators,
    group: 'b1',
    first: { send: 'elevator.changed', payload: { twinId: 'e1', value: 'idle', context: { online: true }, attributes: { building: 'b1' }, sourceAt: START } },
    feeds: [
      {
        type: 'elevator',
        ids: ['e1', 'e2', 'e3'],
        events: ['changed', 'changed', 'online', 'offline'],
        values: ['idle', 'moving', 'doorsOpen', 'outOfService', 'fault'],
        context: fc.record({ online: fc.boolean() }),
        attributes: fc.constantFrom({ building: 'b1' }, { building: 'b1' }, { building: 'b2' }),
        data: fc.record({ floor: fc.integer({ min: 0, max: 20 }) }),
      },
    ],
    delays: [60_000],
  },
  {
    rule: meterAreaOutage,
    group: 'a1',
    first: { send: 'meter.changed', payload: { twinId: 'm1', value: 'withinLimit', context: { online: true }, attributes: { area: 'a1' }, sourceAt: START } },
    feeds: [
      {
        type: 'meter',
        ids: ['m1', 'm2', 'm3', 'm4', 'm5'],
        events: ['changed', 'online', 'offline', 'offline'],
        values: ['withinLimit', 'aboveLimit', 'overconsumption'],
        context: fc.record({ online: fc.boolean() }),
        attributes: fc.constantFrom({ area: 'a1' }, { area: 'a1' }, { area: 'a1' }, { area: 'a2' }),
        data: fc.record({ lastReadingAt: fc.option(fc.integer({ min: 0, max: 1e6 }), { nil: null }) }),
      },
    ],
    delays: [300_000],
  },
]

const twinScript = (c: TwinCase, maxLength: number) => script(c.first, fc.oneof({ weight: 3, arbitrary: deviceEvent(c.twin) }, advance(c.delays)), maxLength)
const ruleScript = (c: RuleCase, maxLength: number) =>
  script(c.first, fc.oneof({ weight: 3, arbitrary: fc.oneof(...c.feeds.map((f) => feed(f, START))) }, advance(c.delays)), maxLength)

/** The harness's pending timers in the reference's terms. */
const harnessTimers = (timers: Array<{ id: string; due: number }>) => timers.map(({ id, due }) => ({ id: timerName(id, /^(.*)@\d+#\d+$/.exec(id)?.[1] ?? ''), due }))
const commandViews = (commands: Array<{ to?: { type: string; id: string }; name: string; payload?: unknown; timeoutMs?: number }>, self: string): CommandView[] =>
  commands.map((c) => ({ to: c.to ? `${c.to.type}/${c.to.id}` : self, name: c.name, payload: json(c.payload ?? {}), ...(c.timeoutMs !== undefined ? { timeoutMs: c.timeoutMs } : {}) }))

describe('shipped twins, in memory: the test kit against XState', () => {
  it.each(TWINS.map((c) => [c.twin.type, c] as const))('%s', (_type, c) => {
    fc.assert(
      fc.property(twinScript(c, 25), (steps) => {
        const h = createTwinHarness(c.twin, { id: 'p1', clock: new VirtualClock(START) })
        const ref = new ReferenceTwin(c.twin, 'p1', START)
        let emitted = 0
        for (const [i, step] of steps.entries()) {
          const refused: Array<[string, string]> = []
          if ('send' in step) {
            try {
              h.send(step.send, step.payload)
            } catch (err) {
              if (!(err instanceof TwinError)) throw err
              refused.push([step.send, err.code])
            }
            ref.send(step.send, step.payload)
          } else {
            h.advance(step.advance)
            ref.advance(step.advance)
          }
          const o = ref.observe()
          const where = `${c.twin.type} step ${i + 1} (${describeStep(step)})`
          const shown = { value: h.state, context: json(toJsonValue(h.context)), timers: harnessTimers(h.timers), emitted: h.emitted.slice(emitted).map((e) => json(e)), refused }
          expect(shown, where).toEqual({ value: o.value, context: o.context, timers: o.timers.map(({ id, due }) => ({ id, due })), emitted: o.emitted, refused: o.refused })
          expect(h.context, where).toStrictEqual(ref.snapshot.context)
          emitted = h.emitted.length
        }
      }),
      params(RUNS_IN_MEMORY),
    )
  })
})

describe('shipped rules, in memory: the test kit against XState', () => {
  it.each(RULES.map((c) => [c.rule.name, c] as const))('%s', (_name, c) => {
    fc.assert(
      fc.property(ruleScript(c, 25), (steps) => {
        const h = createRuleHarness(c.rule, { group: c.group, clock: new VirtualClock(START) })
        const ref = new ReferenceTwin(ruleAsTwin(c.rule), c.group, START)
        let emitted = 0
        let commands = 0
        for (const [i, step] of steps.entries()) {
          if ('send' in step) {
            h.feed({ type: step.send, ...(step.payload as { twinId: string; value: string; context: Record<string, unknown>; attributes: Record<string, string> }) })
            ref.send(step.send, step.payload)
          } else {
            h.advance(step.advance)
            ref.advance(step.advance)
          }
          const o = ref.observe()
          const where = `${c.rule.name} step ${i + 1} (${describeStep(step)})`
          const shown = {
            value: h.state,
            context: json(toJsonValue(h.context)),
            timers: harnessTimers(h.timers),
            emitted: h.emitted.slice(emitted).map((e) => json(e)),
            commands: commandViews(h.commands.slice(commands), `${c.rule.name}/${c.group}`),
          }
          expect(shown, where).toEqual({ value: o.value, context: o.context, timers: o.timers.map(({ id, due }) => ({ id, due })), emitted: o.emitted, commands: o.commands })
          expect(h.context, where).toStrictEqual(ref.snapshot.context)
          emitted = h.emitted.length
          commands = h.commands.length
        }
      }),
      params(RUNS_IN_MEMORY),
    )
  })
})

describe.each(MODES)('shipped twins and rules through a worker on Redis: %s', (mode) => {
  const registry = new TwinRegistry([elevator, meter, charger], [siteChargingLoad, buildingElevators, meterAreaOutage])

  const viaRedis = (definition: TwinDefinition, steps: fc.Arbitrary<ScriptStep[]>, options: { rule?: boolean; id?: string } = {}) =>
    fc.assert(
      fc.asyncProperty(steps, async (s) => {
        const engine = await EngineHarness.start({ registry, start: START, cacheSize: mode === 'reload' ? 1 : 1000 })
        try {
          await conformance(definition, s, mode, engine, options)
        } finally {
          await engine.close()
        }
      }),
      params(RUNS_REDIS),
    )

  it.each(TWINS.map((c) => [c.twin.type, c] as const))('%s', async (_type, c) => {
    await viaRedis(c.twin, twinScript(c, 10))
  })

  it.each(RULES.map((c) => [c.rule.name, c] as const))('%s', async (_name, c) => {
    await viaRedis(ruleAsTwin(c.rule), ruleScript(c, 10), { rule: true, id: c.group })
  })
})
