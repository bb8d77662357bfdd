import { describe, expect, it } from 'vitest'
import { createRuleHarness, type RuleHarness } from '../../src/testing/ruleHarness.ts'
import rule, { LISTED_METERS, WINDOW_MS } from '../../rules/meter-area-outage.ts'

const A = 'a1'

function join(h: RuleHarness, id: string, o: { online?: boolean; area?: string; state?: string } = {}) {
  return h.feedChange('meter', id, { value: o.state ?? 'withinLimit', context: { id, online: o.online ?? true }, attributes: { area: o.area ?? A } })
}
function offline(h: RuleHarness, id: string) {
  return h.feedEvent('meter', id, 'offline', { id, lastReadingAt: 0, lastEnergyKwh: 1 }, { value: 'withinLimit', context: { id, online: false } })
}
function online(h: RuleHarness, id: string) {
  return h.feedEvent('meter', id, 'online', { id, offlineForMs: 1 }, { value: 'withinLimit', context: { id, online: true } })
}

/** When meter `id` went offline, or undefined while it is online. */
const darkSince = (h: RuleHarness, id: string): number | undefined => (h.context.offline as Array<[string, number]>).find(([m]) => m === id)?.[1]

/** An area with meters m1..mn, all online. */
function area(n: number): RuleHarness {
  const h = createRuleHarness(rule, { group: A })
  for (let i = 1; i <= n; i++) join(h, `m${i}`)
  return h
}

describe('meter-area-outage', () => {
  it('counts the meters that join the area', () => {
    const h = area(10)
    expect(h.state).toBe('normal')
    expect(h.context.meters).toEqual(['m1', 'm10', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9'])
    expect(h.context.offline).toEqual([])
  })

  it('emits suspectedOutage once when more than 30% go offline within 5 minutes', () => {
    const h = area(10)
    const t0 = h.clock.now()
    offline(h, 'm1')
    h.advance(60_000)
    offline(h, 'm2')
    h.advance(60_000)
    offline(h, 'm3') // 30%: not more than 30%
    expect(h.emitted).toEqual([])
    h.advance(60_000)
    offline(h, 'm4') // 40%
    expect(h.state).toBe('outage')
    expect(h.emitted).toEqual([
      { type: 'suspectedOutage', area: A, offline: 4, total: 10, ratio: 0.4, since: t0, meters: ['m1', 'm2', 'm3', 'm4'], at: t0 + 180_000 },
    ])
    offline(h, 'm5')
    offline(h, 'm6')
    expect(h.emittedTypes).toEqual(['suspectedOutage'])
  })

  it('meters going offline further apart than the window are meter faults, not an outage', () => {
    const h = area(10)
    for (let i = 1; i <= 6; i++) {
      offline(h, `m${i}`)
      h.advance(WINDOW_MS / 2 + 1) // at most 2 inside any 5 minutes
    }
    expect(h.state).toBe('normal')
    expect(h.emitted).toEqual([])
  })

  it('the window is sliding: the oldest drop out as time passes', () => {
    const h = area(10)
    offline(h, 'm1')
    h.advance(WINDOW_MS - 60_000)
    offline(h, 'm2')
    offline(h, 'm3')
    h.advance(60_001) // m1 is now older than the window
    offline(h, 'm4')
    expect(h.emitted).toEqual([])
    offline(h, 'm5')
    expect(h.emitted[0]).toMatchObject({ type: 'suspectedOutage', offline: 4, meters: ['m2', 'm3', 'm4', 'm5'] })
  })

  it('a meter back online inside the window no longer counts', () => {
    const h = area(10)
    offline(h, 'm1')
    offline(h, 'm2')
    offline(h, 'm3')
    online(h, 'm2')
    offline(h, 'm4')
    expect(h.emitted).toEqual([])
    expect(darkSince(h, 'm2')).toBeUndefined()
    expect(darkSince(h, 'm3')).toBe(h.clock.now())
  })

  it('clears when fewer than 30% are still offline, with the duration', () => {
    const h = area(10)
    for (let i = 1; i <= 5; i++) offline(h, `m${i}`)
    const since = h.clock.now()
    h.advance(20 * 60_000) // an outage outlasts the window: it stays until meters come back
    expect(h.state).toBe('outage')
    online(h, 'm1')
    online(h, 'm2') // 3 of 10 offline: not below 30%
    expect(h.state).toBe('outage')
    online(h, 'm3')
    expect(h.state).toBe('normal')
    expect(h.emitted[1]).toEqual({
      type: 'suspectedOutageCleared', area: A, offline: 2, total: 10, ratio: 0.2, since, durationMs: 20 * 60_000, at: since + 20 * 60_000,
    })
  })

  it('can raise again after clearing', () => {
    const h = area(10)
    for (let i = 1; i <= 4; i++) offline(h, `m${i}`)
    for (let i = 1; i <= 4; i++) online(h, `m${i}`)
    h.advance(WINDOW_MS)
    for (let i = 5; i <= 8; i++) offline(h, `m${i}`)
    expect(h.emittedTypes).toEqual(['suspectedOutage', 'suspectedOutageCleared', 'suspectedOutage'])
  })

  it('duplicate offline events keep the first time and count once', () => {
    const h = area(10)
    offline(h, 'm1')
    const first = darkSince(h, 'm1')
    h.advance(10_000)
    offline(h, 'm1')
    offline(h, 'm1')
    offline(h, 'm2')
    offline(h, 'm2')
    offline(h, 'm3')
    expect(darkSince(h, 'm1')).toBe(first)
    expect(h.context.offline).toHaveLength(3)
    expect(h.emitted).toEqual([])
  })

  it('one dark meter is never an outage, even in a tiny area', () => {
    const h = area(2)
    offline(h, 'm1') // 50%, but one meter
    expect(h.emitted).toEqual([])
    offline(h, 'm2')
    expect(h.emitted[0]).toMatchObject({ type: 'suspectedOutage', offline: 2, total: 2, ratio: 1 })
  })

  it('a meter already offline when it joins counts in the total, not in the window', () => {
    const h = area(4)
    join(h, 'm5', { online: false })
    offline(h, 'm1')
    expect(h.emitted).toEqual([]) // 1 recent of 5
    offline(h, 'm2')
    expect(h.emitted[0]).toMatchObject({ offline: 2, total: 5, ratio: 0.4, meters: ['m1', 'm2'] })
  })

  it('an offline event from a meter never seen adds it, offline since now', () => {
    const h = area(5)
    offline(h, 'm9')
    expect(darkSince(h, 'm9')).toBe(h.clock.now())
    expect(h.context.meters).toHaveLength(6)
  })

  it('a meter moving to another area leaves the count, dark or not', () => {
    const h = area(7)
    offline(h, 'm1')
    offline(h, 'm6') // 2 of 7 = 29%
    join(h, 'm6', { area: 'a2', online: false })
    expect(darkSince(h, 'm6')).toBeUndefined()
    expect(h.context.meters).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm7'])
    expect(h.emitted).toEqual([])
    offline(h, 'm2') // 2 of 6 = 33%
    expect(h.emitted[0]).toMatchObject({ offline: 2, total: 6, meters: ['m1', 'm2'] })
  })

  it("a state change carries the meter's online flag: a dark meter reading again is back", () => {
    const h = area(3)
    offline(h, 'm1')
    h.advance(1_000)
    join(h, 'm1', { state: 'aboveLimit' }) // its first reading after the outage crossed the limit
    expect(darkSince(h, 'm1')).toBeUndefined()
    join(h, 'm2', { state: 'aboveLimit', online: false }) // an offline flag seen without its offline event
    expect(darkSince(h, 'm2')).toBe(h.clock.now())
  })

  it('keeps the event small in a large area', () => {
    const h = area(3000)
    for (let i = 1; i <= 1000; i++) offline(h, `m${i}`)
    const [event] = h.emitted as unknown as Array<{ offline: number; meters: string[] }>
    expect(event!.offline).toBe(901) // > 30% of 3000
    expect(event!.meters).toHaveLength(LISTED_METERS)
    expect(h.emittedTypes).toEqual(['suspectedOutage'])
    expect(JSON.stringify(h.context).length).toBeLessThan(3000 * 32)
  })
})
