import { describe, expect, it } from 'vitest'
import { COMMAND_EVENT } from '../../src/definitions/commands.ts'
import { createRuleHarness, type RuleHarness } from '../../src/testing/ruleHarness.ts'
import rule, { ASSUMED_DEMAND_W, MIN_INTERVAL_MS, RAISE_INTERVAL_MS } from '../../rules/site-charging-load.ts'

const S = 's1'
const LIMIT = 20_000

/** The grid meter g1 of the site reporting `powerW` (meter twin context after a reading). */
function grid(h: RuleHarness, powerW: number, o: { limitW?: number; online?: boolean; id?: string; role?: string } = {}) {
  return h.feedChange('meter', o.id ?? 'g1', {
    value: powerW > (o.limitW ?? LIMIT) ? 'aboveLimit' : 'withinLimit',
    context: { limitW: o.limitW ?? LIMIT, lastPowerW: powerW, online: o.online ?? true },
    attributes: { site: S, role: o.role ?? 'grid' },
  })
}
/** Charger `id` in OCPP `status` with its last meter value `powerW` (null: none yet). */
function charger(h: RuleHarness, id: string, status: string, powerW: number | null, o: { online?: boolean; site?: string } = {}) {
  return h.feedChange('charger', id, { value: status, context: { powerW, online: o.online ?? true }, attributes: { site: o.site ?? S } })
}
/** The commands sent so far, as `id=maxPowerW`. */
const sent = (h: RuleHarness) => h.commands.map((c) => `${c.to!.id}=${String(c.payload!.maxPowerW)}`)

/** Two chargers drawing 7 kW each, the rest of the building 6 kW: 20 kW on a 20 kW connection. */
function site(): RuleHarness {
  const h = createRuleHarness(rule, { group: S })
  charger(h, 'c1', 'Charging', 7_000)
  charger(h, 'c2', 'Charging', 7_000)
  grid(h, 20_000)
  return h
}

describe('site-charging-load', () => {
  it('within the limit: nothing is commanded', () => {
    const h = site()
    expect(h.state).toBe('normal')
    expect(h.commands).toEqual([])
    expect(h.context.grid).toEqual({ id: 'g1', limitW: LIMIT, powerW: 20_000, online: true, at: h.clock.now() })
  })

  it('over the limit: caps every active charger at an equal share of the headroom, QoS-1 command per charger', () => {
    const h = site()
    const at = h.clock.now()
    grid(h, 25_000) // the rest rose to 11 kW: headroom 9 kW for 14 kW of charging
    expect(h.state).toBe('limited')
    // (9000 - 5% of 20000) / 2 = 4000 W each
    expect(h.commands).toEqual([
      { type: COMMAND_EVENT, to: { type: 'charger', id: 'c1' }, name: 'setMaxPower', payload: { maxPowerW: 4_000 }, at },
      { type: COMMAND_EVENT, to: { type: 'charger', id: 'c2' }, name: 'setMaxPower', payload: { maxPowerW: 4_000 }, at },
    ])
    expect(h.emitted).toEqual([
      { type: 'loadLimited', site: S, limitW: LIMIT, gridPowerW: 25_000, headroomW: 9_000, chargingPowerW: 14_000, maxPowerW: 4_000, chargers: ['c1', 'c2'], at },
    ])
    expect(h.context.chargers.c1).toEqual({ p: 7_000, active: true, cap: 4_000, want: 7_000 })
  })

  it('lifts the caps when the demand fits the headroom with the margin again', () => {
    const h = site()
    grid(h, 25_000)
    charger(h, 'c1', 'Charging', 4_000)
    charger(h, 'c2', 'Charging', 4_000)
    grid(h, 19_000) // rest 11 kW: still no room
    h.advance(60_000)
    grid(h, 14_000) // rest 6 kW: headroom 14 kW, demand 14 kW + 2 kW margin does not fit
    expect(h.state).toBe('limited')
    expect(sent(h).slice(-2)).toEqual(['c1=6000', 'c2=6000']) // raised to (14 kW - 2 kW margin) / 2 instead
    grid(h, 12_000) // rest 4 kW: headroom 16 kW = 14 kW + 2 kW, but the reading is no newer than the raise
    expect(h.state).toBe('limited')
    h.advance(10_000)
    const at = h.clock.now()
    grid(h, 12_000) // a reading taken after the last command
    expect(h.state).toBe('normal')
    expect(sent(h).slice(-2)).toEqual(['c1=null', 'c2=null'])
    expect(h.emitted.at(-1)).toEqual({
      type: 'loadLimitLifted', site: S, limitW: LIMIT, gridPowerW: 12_000, headroomW: 16_000, demandW: 14_000, limitedForMs: 70_000, chargers: ['c1', 'c2'], at,
    })
    expect(h.context.chargers.c1).toEqual({ p: 4_000, active: true, cap: null, want: null })
  })

  it('while limited, follows the headroom at most every MIN_INTERVAL_MS', () => {
    const h = site()
    grid(h, 25_000) // caps 4000
    charger(h, 'c1', 'Charging', 4_000)
    charger(h, 'c2', 'Charging', 4_000)
    grid(h, 21_000) // rest 13 kW: headroom 7 kW -> share 3000, but too soon
    expect(sent(h)).toEqual(['c1=4000', 'c2=4000'])
    h.advance(MIN_INTERVAL_MS)
    grid(h, 21_000)
    expect(sent(h)).toEqual(['c1=4000', 'c2=4000', 'c1=3000', 'c2=3000'])
    expect(h.emitted.at(-1)).toMatchObject({ type: 'loadLimitAdjusted', headroomW: 7_000, caps: { c1: 3_000, c2: 3_000 } })
    // Up again only to the lift-margin share, and only RAISE_INTERVAL_MS after the last command:
    // rest 8 kW -> headroom 12 kW -> (12000 - 2000) / 2 = 5000.
    charger(h, 'c1', 'Charging', 3_000)
    charger(h, 'c2', 'Charging', 3_000)
    h.advance(MIN_INTERVAL_MS)
    grid(h, 14_000)
    expect(sent(h)).toHaveLength(4)
    h.advance(RAISE_INTERVAL_MS - MIN_INTERVAL_MS)
    grid(h, 14_000)
    expect(sent(h).slice(4)).toEqual(['c1=5000', 'c2=5000'])
  })

  /** 40 minutes of readings every 10 s with the rest of the load stepping through `rests`; chargers follow their caps. */
  function wobble(h: RuleHarness, rests: number[]): Array<{ at: number; id: string }> {
    for (let i = 0; i < 240; i++) {
      const draw = Math.min(7_000, (h.context.chargers.c1.cap ?? 7_000) as number)
      charger(h, 'c1', 'Charging', draw)
      charger(h, 'c2', 'Charging', draw)
      grid(h, rests[i % rests.length]! + 2 * draw)
      h.advance(10_000)
    }
    return h.commands.map((c) => ({ at: c.at, id: c.to!.id }))
  }

  it('readings that wobble inside the hysteresis band change no cap', () => {
    const h = site()
    wobble(h, [5_500, 6_000, 6_500, 6_000]) // 1 kW of wobble = 5% of the limit
    expect(h.emittedTypes).toEqual(['loadLimited'])
    expect(sent(h)).toEqual(['c1=6200', 'c2=6200'])
  })

  it('a load that swings wider is followed, never faster than the intervals', () => {
    const h = site()
    const commands = wobble(h, [5_500, 6_000, 6_500, 7_000, 7_500])
    expect(h.emitted.filter((e) => e.type === 'loadLimitLifted')).toEqual([])
    for (const id of ['c1', 'c2']) {
      const times = commands.filter((c) => c.id === id).map((c) => c.at)
      for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(MIN_INTERVAL_MS)
    }
    // 240 readings: about one down and one up per RAISE_INTERVAL_MS, not one per reading.
    expect(commands.length).toBeLessThanOrEqual(2 * 2 * Math.ceil((240 * 10_000) / RAISE_INTERVAL_MS))
    const adjustments = h.emitted.filter((e) => e.type === 'loadLimitAdjusted')
    expect(adjustments.length).toBeGreaterThan(0) // it does follow the load
  })

  it('a charger that starts while limited is capped at once, the others keep their caps until the interval', () => {
    const h = site()
    grid(h, 25_000)
    charger(h, 'c1', 'Charging', 4_000)
    charger(h, 'c2', 'Charging', 4_000)
    grid(h, 19_000)
    charger(h, 'c3', 'Preparing', 0)
    expect(sent(h)).toHaveLength(2)
    charger(h, 'c3', 'Charging', null) // no meter value yet
    // headroom 9 kW - 1 kW reserve over 3 chargers = 2600 W
    expect(sent(h).slice(2)).toEqual(['c3=2600'])
    expect(h.context.chargers.c3).toEqual({ p: null, active: true, cap: 2_600, want: ASSUMED_DEMAND_W })
    h.advance(MIN_INTERVAL_MS)
    grid(h, 19_000)
    expect(sent(h).slice(3)).toEqual(['c1=2600', 'c2=2600'])
  })

  it('a charger with no power reading counts as drawing nothing and is assumed to want 22 kW', () => {
    const h = createRuleHarness(rule, { group: S })
    charger(h, 'c1', 'Charging', null)
    grid(h, 18_000)
    expect(h.commands).toEqual([])
    grid(h, 21_000) // over: the rest (all 21 kW as far as we know) exceeds the limit
    expect(sent(h)).toEqual(['c1=0'])
    grid(h, 4_000) // headroom 16 kW: not enough for 22 kW + margin
    expect(h.state).toBe('limited')
    h.advance(10_000)
    grid(h, -4_000) // PV export: headroom 24 kW
    expect(h.state).toBe('normal')
    expect(sent(h)).toEqual(['c1=0', 'c1=null'])
  })

  it('a charger that stops while limited keeps its cap until the lift, which clears it too', () => {
    const h = site()
    grid(h, 25_000)
    charger(h, 'c2', 'Finishing', 7_000) // the twin keeps its last meter value
    expect(h.context.chargers.c2).toMatchObject({ p: 0, active: false, cap: 4_000 })
    charger(h, 'c1', 'Charging', 4_000)
    h.advance(10_000)
    grid(h, 12_000) // rest 8 kW, headroom 12 kW; c1 wants 7 kW + 2 kW margin: fits
    expect(h.state).toBe('normal')
    expect(sent(h).slice(2)).toEqual(['c1=null', 'c2=null'])
  })

  it('without a live grid reading nothing is decided, and caps stay', () => {
    const h = createRuleHarness(rule, { group: S })
    charger(h, 'c1', 'Charging', 22_000)
    charger(h, 'c2', 'Charging', 22_000)
    expect(h.commands).toEqual([])
    grid(h, 50_000)
    expect(h.state).toBe('limited')
    grid(h, 50_000, { online: false })
    charger(h, 'c1', 'Charging', 1_000)
    charger(h, 'c2', 'Charging', 1_000)
    h.advance(10 * MIN_INTERVAL_MS)
    charger(h, 'c1', 'Charging', 1_000)
    expect(h.state).toBe('limited')
    expect(h.commands).toHaveLength(2)
  })

  it('only the meter with role grid is the site meter; one that loses the role is forgotten', () => {
    const h = site()
    expect(h.feedChange('meter', 'sub1', { value: 'withinLimit', context: { limitW: 5_000, lastPowerW: 90_000 }, attributes: { site: S } })).toBeNull()
    expect(h.context.grid.id).toBe('g1')
    grid(h, 20_000, { role: 'submeter' })
    expect(h.context.grid).toBeNull()
    charger(h, 'c1', 'Charging', 22_000)
    expect(h.commands).toEqual([])
  })

  it('the contracted limit comes from the grid meter twin (its contract event)', () => {
    const h = site()
    grid(h, 20_000, { limitW: 15_000 }) // contract lowered: rest 6 kW, headroom 9 kW, reserve 750 W
    expect(sent(h)).toEqual(['c1=4100', 'c2=4100'])
  })

  it('offline chargers take no share and get no command', () => {
    const h = site()
    charger(h, 'c2', 'Charging', 7_000, { online: false })
    grid(h, 25_000) // c2's draw now counts as the rest: 18 kW; headroom 2 kW for c1's 7 kW
    expect(sent(h)).toEqual(['c1=1000'])
  })

  it('a capped charger moving to another site is released and forgotten', () => {
    const h = site()
    grid(h, 25_000)
    charger(h, 'c2', 'Charging', 4_000, { site: 's2' })
    expect(sent(h).slice(2)).toEqual(['c2=null'])
    expect(Object.keys(h.context.chargers)).toEqual(['c1'])
  })

  it('lifts only on a grid reading taken after the last command', () => {
    const h = site()
    grid(h, 25_000) // capped now
    charger(h, 'c1', 'Finishing', 0)
    charger(h, 'c2', 'Finishing', 0)
    grid(h, 6_000) // nothing charging and plenty of room, but this reading may predate the caps
    expect(h.state).toBe('limited')
    h.advance(1)
    grid(h, 6_000)
    expect(h.state).toBe('normal')
    expect(sent(h)).toEqual(['c1=4000', 'c2=4000', 'c1=null', 'c2=null'])
  })

  it('a redelivered feed sends nothing twice', () => {
    const h = site()
    const over = { type: 'meter.changed', twinId: 'g1', value: 'aboveLimit', context: { limitW: LIMIT, lastPowerW: 25_000, online: true }, attributes: { site: S, role: 'grid' } }
    h.feed(over)
    h.feed(over)
    h.feed(over)
    expect(sent(h)).toEqual(['c1=4000', 'c2=4000'])
  })

  it('keeps a plain-JSON context', () => {
    const h = site()
    grid(h, 25_000)
    expect(JSON.parse(JSON.stringify(h.context))).toEqual(h.context)
  })
})
