import mqtt, { type MqttClient } from 'mqtt'
import { assign, setup } from 'xstate'
import { afterEach, describe, expect, it } from 'vitest'
import { defineTwin } from '../../src/definitions/defineTwin.ts'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import { startIngestRole, type IngestRole } from '../../src/roles/ingestRole.ts'
import { silentLog, waitFor } from '../support/env.ts'
import { startMosquitto, type Mosquitto } from '../support/mosquitto.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

/**
 * Input topics (ADR 0021) through the ingest role's two front doors: the
 * embedded broker's publish hook, and the subscriber of an external broker
 * (mosquitto), which must subscribe to the input topics too. One message on
 * a wildcard input topic reaches both twin types taking it.
 */

const reading = { properties: { line: { type: 'string' }, cell: { type: 'string' }, kw: { type: 'number' } } }
const counting = (type: string) =>
  setup({ types: {} as { context: { n: number } } }).createMachine({
    id: type,
    context: { n: 0 },
    initial: 'on',
    states: { on: { on: { reading: { actions: assign({ n: ({ context }) => context.n + 1 }) } } } },
  })
const registry = new TwinRegistry([
  defineTwin({ type: 'line', version: 1, machine: counting('line'), events: { reading }, inputs: [{ topic: 'factory/+/power', event: 'reading', keyPath: 'line' }] }),
  defineTwin({ type: 'cell', version: 1, machine: counting('cell'), events: { reading }, inputs: [{ topic: 'factory/+/power', event: 'reading', keyPath: 'cell' }] }),
])

let p: Pipeline | undefined
let role: IngestRole | undefined
let mosquitto: Mosquitto | undefined
let device: MqttClient | undefined
afterEach(async () => {
  await device?.endAsync(true)
  await role?.stop()
  await mosquitto?.stop()
  await p?.stop()
  device = role = mosquitto = p = undefined
})

const settings = { mqttPort: 0, mqttHost: '127.0.0.1', mqttProtocol: 5 as const, mqttClientId: 'ingest-inputs', ingestPartition: { index: 0, count: 1 }, mqttSharedGroup: undefined }

async function publishAndRead(url: string): Promise<void> {
  device = await mqtt.connectAsync(url, { reconnectPeriod: 0 })
  for (let i = 0; i < 3; i++) await device.publishAsync('factory/f1/power', JSON.stringify({ line: 'L1', cell: `C${i % 2}`, kw: i }), { qos: 1 })
  await waitFor('line L1 at 3', async () => (await p!.store.get('line', 'L1'))?.rev === 3)
  await waitFor('cells at 2 and 1', async () => (await p!.store.get('cell', 'C0'))?.rev === 2 && (await p!.store.get('cell', 'C1'))?.rev === 1)
  expect((await p!.store.get('line', 'L1'))!.context).toEqual({ n: 3 })
}

describe('input topics at the ingest role', () => {
  it('the embedded broker ingests a message on an input topic before its PUBACK, for every type taking it', async () => {
    p = await startPipeline({ registry })
    role = await startIngestRole({ ingestor: p.ingestor, registry, log: silentLog, settings: { ...settings, mqttUrl: undefined } })
    await publishAndRead(role.mqttUrl)
  })

  it('the subscriber of an external broker (mosquitto) subscribes to the input topics', async () => {
    p = await startPipeline({ registry })
    mosquitto = await startMosquitto()
    role = await startIngestRole({ ingestor: p.ingestor, registry, log: silentLog, settings: { ...settings, mqttUrl: mosquitto.url } })
    await publishAndRead(mosquitto.url)
  })
})
