import mqtt, { type MqttClient } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { ackMessage, parseCommand } from '../../src/demo/commandWire.ts'
import { ChargerDevice, createDevice, DEVICE_TYPES } from '../../src/demo/devices.ts'
import { startFleet, type Fleet } from '../../src/demo/fleet.ts'
import { GridMeterDevice } from '../../src/demo/gridMeterDevice.ts'
import { buildFleet, SITE_LIMIT_W } from '../../src/demo/layout.ts'
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/embedded/broker.ts'
import { createTwinHarness } from '../../src/testing/twinHarness.ts'
import charger from '../../twins/charger.ts'
import meter from '../../twins/meter.ts'
import { waitFor } from '../support/env.ts'

/** A charger brought to Charging with a session (the seeded random decides the car's power). */
function chargingCharger(): ChargerDevice {
  let r = 0
  const c = new ChargerDevice('c1', () => ((r = (r * 9301 + 49297) % 233280) / 233280))
  for (let t = 0; t < 100_000 && !(c as unknown as { status: string }).status?.startsWith('Charging'); t++) c.next(t * 1000)
  expect((c as unknown as { status: string }).status).toBe('Charging')
  return c
}

describe('device commands (wire format)', () => {
  it('parses a command and builds its ack', () => {
    const command = parseCommand('devices/charger/c-1/commands/setMaxPower', JSON.stringify({ id: 'k1', payload: { maxPowerW: 3000 }, sentAt: 5 }))
    expect(command).toEqual({ type: 'charger', device: 'c-1', name: 'setMaxPower', id: 'k1', payload: { maxPowerW: 3000 }, sentAt: 5 })
    expect(JSON.parse(ackMessage(command!, { ok: true, reported: { maxPowerW: 3000 } }))).toEqual({ id: 'k1', ok: true, reported: { maxPowerW: 3000 } })
    expect(JSON.parse(ackMessage(command!, { ok: false, reason: 'unknown command' }))).toEqual({ id: 'k1', ok: false, reason: 'unknown command' })
  })

  it('ignores what a device cannot answer: no correlation id, not JSON, another topic', () => {
    expect(parseCommand('devices/charger/c1/commands/x', '{"payload":{}}')).toBeNull()
    expect(parseCommand('devices/charger/c1/commands/x', 'nope')).toBeNull()
    expect(parseCommand('devices/charger/c1/reading', '{"id":"k"}')).toBeNull()
    expect(parseCommand('devices/charger/c 1/commands/x', '{"id":"k"}')).toBeNull()
    // A payload that is not an object is read as empty: the device refuses it, by id.
    expect(parseCommand('devices/charger/c1/commands/x', '{"id":"k","payload":[1]}')?.payload).toEqual({})
  })
})

describe('simulated devices obey commands', () => {
  it('a charger caps its power with setMaxPower, and lifts the cap with null', () => {
    const c = chargingCharger()
    const uncapped = c.powerW
    expect(uncapped).toBeGreaterThan(3_000)
    expect(c.command('setMaxPower', { maxPowerW: 2_500 })).toEqual({ ok: true, reported: { maxPowerW: 2_500 } })
    expect(c.powerW).toBe(2_500)
    for (let t = 0; t < 50; t++) {
      const m = c.next(200_000 + t * 1000)
      if (m.event === 'meterValues') expect(m.payload.powerW as number).toBeLessThanOrEqual(2_500)
    }
    expect(c.maxPowerW).toBe(2_500)
    expect(c.command('setMaxPower', { maxPowerW: null })).toEqual({ ok: true, reported: { maxPowerW: null } })
    expect(c.maxPowerW).toBeNull()
  })

  it('a charger refuses a bad setMaxPower and any other command', () => {
    const c = new ChargerDevice('c1')
    expect(c.command('setMaxPower', { maxPowerW: -1 })).toMatchObject({ ok: false, reason: expect.stringContaining('maxPowerW') })
    expect(c.command('setMaxPower', {})).toMatchObject({ ok: false })
    expect(c.command('reset', {})).toEqual({ ok: false, reason: 'unknown command' })
    expect(c.maxPowerW).toBeNull()
  })

  it.each(DEVICE_TYPES.filter((t) => t !== 'charger'))('a %s refuses every command as unknown', (type) => {
    expect(createDevice(type, 'x').command('setMaxPower', { maxPowerW: 1 }, 0)).toEqual({ ok: false, reason: 'unknown command' })
  })

  it('a grid meter sends its contract first, then the site load including its chargers, valid for the meter twin', () => {
    let chargersW = 0
    const g = new GridMeterDevice('g1', Math.random, () => chargersW, { limitW: 45_000, baseW: [8_000, 10_000] })
    const t = createTwinHarness(meter, { id: 'g1' })
    const first = g.next(0)
    expect(first).toEqual({ event: 'contract', payload: { limitW: 45_000 } })
    t.send(first.event, first.payload)
    for (let i = 1; i <= 20; i++) {
      chargersW = i * 2_000
      t.advance(10_000)
      const m = g.next(t.clock.now())
      t.send(m.event, m.payload)
      expect(m.payload.powerW as number).toBeGreaterThanOrEqual(8_000 + chargersW)
      expect(m.payload.powerW as number).toBeLessThanOrEqual(10_000 + chargersW)
    }
    for (let i = 0; i < 15; i++) {
      t.advance(10_000)
      const m = g.next(t.clock.now())
      t.send(m.event, m.payload)
    }
    expect(t.context.limitW).toBe(45_000)
    expect(t.state).toBe('overconsumption') // 48-50 kW > 45 kW for 2.5 minutes
  })

  it('a capped charger is still valid for the charger twin', () => {
    const c = chargingCharger()
    c.command('setMaxPower', { maxPowerW: 0 })
    const t = createTwinHarness(charger, { id: 'c1' })
    let refused = 0
    for (let i = 0; i < 500; i++) {
      t.advance(5_000)
      const m = c.next(t.clock.now())
      try {
        t.send(m.event, m.payload)
      } catch {
        refused++ // the twin starts Unavailable mid-session: the first messages may not fit
      }
    }
    expect(refused).toBeLessThan(5)
  })
})

describe('demo fleet layout', () => {
  it('places elevators in buildings of 4, meters in areas of 10, chargers in sites of 4 behind a grid meter each', () => {
    const devices = buildFleet({ types: ['elevator', 'meter', 'charger'], devicesPerType: 10, idPrefix: 'd' })
    const attrs = (id: string) => devices.find((d) => d.id === id)!.attributes
    expect(attrs('d-elevator-1')).toEqual({ building: 'd-building-1' })
    expect(attrs('d-elevator-4')).toEqual({ building: 'd-building-1' })
    expect(attrs('d-elevator-5')).toEqual({ building: 'd-building-2' })
    expect(attrs('d-meter-10')).toEqual({ area: 'd-area-1' })
    expect(attrs('d-charger-9')).toEqual({ site: 'd-site-3' })
    const grids = devices.filter((d) => d.attributes.role === 'grid')
    expect(grids.map((g) => [g.type, g.id, g.attributes.site])).toEqual([
      ['meter', 'd-grid-1', 'd-site-1'],
      ['meter', 'd-grid-2', 'd-site-2'],
      ['meter', 'd-grid-3', 'd-site-3'],
    ])
    expect(devices).toHaveLength(33)
    // Without a meter twin there is no grid meter.
    expect(buildFleet({ types: ['charger'], devicesPerType: 4 }).filter((d) => d.type === 'meter')).toEqual([])
  })

  it("a site's grid meter sees its own chargers' power, not another site's", () => {
    const devices = buildFleet({ types: ['meter', 'charger'], devicesPerType: 8, idPrefix: 'd', random: () => 0.5 })
    const c1 = devices.find((d) => d.id === 'd-charger-1') as ChargerDevice
    const grid1 = devices.find((d) => d.id === 'd-grid-1') as GridMeterDevice
    const grid2 = devices.find((d) => d.id === 'd-grid-2') as GridMeterDevice
    grid1.next(0)
    grid2.next(0)
    ;(c1 as unknown as { power: number }).power = 20_000
    const p1 = grid1.next(10_000).payload.powerW as number
    const p2 = grid2.next(10_000).payload.powerW as number
    expect(p1 - p2).toBe(20_000) // same random walk, same base
    expect(grid1.limitW).toBe(SITE_LIMIT_W)
  })
})

describe('fleet on a real broker', () => {
  let broker: EmbeddedBroker | undefined
  let fleet: Fleet | undefined
  const clients: MqttClient[] = []

  afterEach(async () => {
    await fleet?.stop()
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)))
    await broker?.close()
    fleet = undefined
    broker = undefined
  })

  async function setup(): Promise<{ engine: MqttClient; url: string; messages: Array<{ topic: string; body: any }> }> {
    broker = await startEmbeddedBroker({ port: 0, host: '127.0.0.1' })
    const url = `mqtt://127.0.0.1:${broker.port}`
    // Plays the engine: sees attributes and acks, publishes commands.
    const engine = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'engine', reconnectPeriod: 0 })
    clients.push(engine)
    const messages: Array<{ topic: string; body: any }> = []
    engine.on('message', (topic, payload) => messages.push({ topic, body: JSON.parse(payload.toString()) }))
    await engine.subscribeAsync(['devices/+/+/attributes', 'devices/+/+/ack'], { qos: 1 })
    return { engine, url, messages }
  }

  it('publishes every device attributes on connect', async () => {
    const { url, messages } = await setup()
    fleet = await startFleet({ url, types: ['elevator', 'meter', 'charger'], devicesPerType: 4, intervalMs: 3_600_000, idPrefix: 'f' })
    await waitFor('attributes of 13 devices', () => messages.filter((m) => m.topic.endsWith('/attributes')).length === 13)
    const attributes = Object.fromEntries(messages.map((m) => [m.topic, m.body]))
    expect(attributes['devices/elevator/f-elevator-3/attributes']).toEqual({ building: 'f-building-1' })
    expect(attributes['devices/meter/f-meter-1/attributes']).toEqual({ area: 'f-area-1' })
    expect(attributes['devices/charger/f-charger-2/attributes']).toEqual({ site: 'f-site-1' })
    expect(attributes['devices/meter/f-grid-1/attributes']).toEqual({ site: 'f-site-1', role: 'grid' })
  })

  it('answers commands with an ack carrying the correlation id: a charger obeys setMaxPower, an elevator refuses', async () => {
    const { engine, url, messages } = await setup()
    fleet = await startFleet({ url, types: ['elevator', 'charger'], devicesPerType: 2, intervalMs: 3_600_000, idPrefix: 'f' })
    await engine.publishAsync('devices/charger/f-charger-2/commands/setMaxPower', JSON.stringify({ id: 'k-1', payload: { maxPowerW: 3_000 }, sentAt: Date.now() }), { qos: 1 })
    await engine.publishAsync('devices/elevator/f-elevator-1/commands/setMaxPower', JSON.stringify({ id: 'k-2', payload: {}, sentAt: Date.now() }), { qos: 1 })
    // For a device of no fleet here, and a command without an id: no answer.
    await engine.publishAsync('devices/charger/elsewhere-1/commands/setMaxPower', JSON.stringify({ id: 'k-3', payload: {} }), { qos: 1 })
    await engine.publishAsync('devices/charger/f-charger-1/commands/setMaxPower', JSON.stringify({ payload: {} }), { qos: 1 })
    await engine.publishAsync('devices/charger/f-charger-1/commands/setMaxPower', JSON.stringify({ id: 'k-4', payload: { maxPowerW: null } }), { qos: 1 })
    const acks = await waitFor('three acks', () => {
      const found = messages.filter((m) => m.topic.endsWith('/ack'))
      return found.length >= 3 && found
    })
    expect(acks).toEqual([
      { topic: 'devices/charger/f-charger-2/ack', body: { id: 'k-1', ok: true, reported: { maxPowerW: 3_000 } } },
      { topic: 'devices/elevator/f-elevator-1/ack', body: { id: 'k-2', ok: false, reason: 'unknown command' } },
      { topic: 'devices/charger/f-charger-1/ack', body: { id: 'k-4', ok: true, reported: { maxPowerW: null } } },
    ])
    expect((fleet.devices.find((d) => d.id === 'f-charger-2') as ChargerDevice).maxPowerW).toBe(3_000)
    await waitFor('ack count', () => fleet!.commands === 3)
  })
})
