import { describe, expect, it } from 'vitest'
import { Drivers } from '../../src/core/drivers.ts'
import { driversWith, replayTwinBothWays, runTwin } from '../../src/core/replay.ts'
import { diffTwin } from '../../src/core/replayDiff.ts'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import type { InboxEntry } from '../../src/model/entries.ts'
import candidate from '../fixtures/replay/candidate/boiler.ts'
import boiler, { SUSTAINED_MS } from '../fixtures/replay/twins/boiler.ts'

/** What-if replay's pure part: one twin on virtual time through the batch step, both ways, compared. No Redis. */

const running = new Drivers(new TwinRegistry([boiler]))
const lower = driversWith(running.registry, candidate)
const T0 = 1_700_000_000_000

function readings(id: string, temps: Array<[offsetMs: number, temp: number]>): InboxEntry[] {
  return temps.map(([dt, temp], n) => ({ id: `${T0 + dt}-${n}`, type: 'boiler', twinId: id, event: 'reading', payload: JSON.stringify({ temp }) }))
}

describe('runTwin', () => {
  it('applies inputs in order and fires the twin\'s timers between them and up to the end, each step with its cause and effects', () => {
    const run = runTwin(running, 'boiler/b1', null, readings('b1', [[0, 85], [10_000, 82]]), T0 + 60_000)
    expect(run.steps.map((s) => [s.cause.kind, s.at - T0, s.value, s.derived.map((d) => d.name), s.commands.map((c) => c.name)])).toEqual([
      ['input', 0, 'overheated', ['overheat'], []],
      ['input', 10_000, 'overheated', [], []],
      ['timer', SUSTAINED_MS, 'overheated', ['sustainedOverheat'], ['shutdown']],
    ])
    expect(run.steps[2]!.commands[0]).toMatchObject({ kind: 'asked', to: 'boiler/b1', name: 'shutdown' })
    expect(run.record).toMatchObject({ v: 'overheated', c: { temp: 82, alarms: 1 } })
  })

  it('records what the engine would dead-letter, with its code', () => {
    const bad: InboxEntry = { id: `${T0}-0`, type: 'boiler', twinId: 'b1', event: 'boil', payload: '{}' }
    const run = runTwin(running, 'boiler/b1', null, [bad], T0)
    expect(run.steps[0]!.refused?.code).toBe('TWIN_ERR_EVENT_NOT_ACCEPTED')
    expect(run.record).toBeNull()
  })
})

describe('replay both ways and the difference', () => {
  it('a threshold lowered from 80 to 70: a reading of 75 is where the two part, with the events and command added', () => {
    const twin = { key: 'boiler/b2', start: null, inputs: readings('b2', [[0, 50], [5_000, 75], [50_000, 55]]) }
    const both = replayTwinBothWays(running, lower, twin, T0, T0 + 60_000)
    const d = diffTwin(twin.key, both.running, both.candidate)!
    expect(d.first.at).toBe(T0 + 5_000)
    expect(d.first.running).toMatchObject({ cause: { kind: 'input', id: `${T0 + 5_000}-1`, event: 'reading' }, value: 'normal', derived: [] })
    expect(d.first.candidate).toMatchObject({ cause: { kind: 'input', id: `${T0 + 5_000}-1` }, value: 'overheated', derived: ['overheat'] })
    expect(d.derived.added.map((p) => [p.item.name, p.at - T0])).toEqual([['overheat', 5_000], ['sustainedOverheat', 35_000], ['recovered', 50_000]])
    expect(d.derived.missing).toEqual([])
    expect(d.commands.added.map((p) => [p.item.name, p.at - T0, p.cause.kind])).toEqual([['shutdown', 35_000, 'timer']])
    expect(d.commands.missing).toEqual([])
    // Both end normal with the same temperature; the alarm count differs.
    expect(d.state).toEqual({ running: { value: 'normal', context: { temp: 55, alarms: 0 } }, candidate: { value: 'normal', context: { temp: 55, alarms: 1 } } })
  })

  it('readings both thresholds agree on make no difference', () => {
    const twin = { key: 'boiler/b3', start: null, inputs: readings('b3', [[0, 50], [5_000, 90], [10_000, 40]]) }
    const both = replayTwinBothWays(running, lower, twin, T0, T0 + 60_000)
    expect(diffTwin(twin.key, both.running, both.candidate)).toBeNull()
  })

  it('starts each side from the state at the window\'s start: input before it is applied by the running definition alone', () => {
    // 75 arrives before the window: the running definition keeps the twin normal, and both sides start there.
    const twin = { key: 'boiler/b4', start: null, inputs: readings('b4', [[0, 75], [20_000, 65]]) }
    const both = replayTwinBothWays(running, lower, twin, T0 + 10_000, T0 + 60_000)
    expect(both.inputs).toBe(1)
    expect(diffTwin(twin.key, both.running, both.candidate)).toBeNull()
    expect(both.candidate.record).toMatchObject({ v: 'normal', c: { temp: 65, alarms: 0 } })
  })

  it('a timer only one side arms is a difference at the step that armed it', () => {
    const twin = { key: 'boiler/b5', start: null, inputs: readings('b5', [[0, 72]]) }
    const both = replayTwinBothWays(running, lower, twin, T0, T0 + 10_000)
    const d = diffTwin(twin.key, both.running, both.candidate)!
    expect(d.first.at).toBe(T0)
    expect(d.commands.added).toEqual([])
  })
})
