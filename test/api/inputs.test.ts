import type { FastifyInstance } from 'fastify'
import { assign, setup } from 'xstate'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { messageText } from '../../src/api/inputRoutes.ts'
import { defineTwin } from '../../src/definitions/defineTwin.ts'
import { TwinRegistry } from '../../src/definitions/registry.ts'
import { startApi } from '../support/api.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'
import { thrown } from '../support/thrown.ts'

/** POST /inputs/messages (ADR 0021): AWS IoT Events' BatchPutMessage, on twins that take named inputs. */

const meter = defineTwin({
  type: 'meter',
  version: 1,
  events: { reading: { properties: { meterId: { type: 'string' }, seq: { type: 'integer' } }, required: ['seq'] } },
  inputs: [{ topic: 'grid/readings', event: 'reading', keyPath: 'meterId', name: 'Readings' }],
  machine: setup({ types: {} as { context: { seqs: number[] }; events: { type: 'reading'; seq: number } } }).createMachine({
    id: 'meter',
    context: { seqs: [] },
    initial: 'on',
    states: { on: { on: { reading: { actions: assign({ seqs: ({ context, event }) => [...context.seqs, event.seq] }) } } } },
  }),
})

let p: Pipeline
let app: FastifyInstance
beforeEach(async () => {
  p = await startPipeline({ registry: new TwinRegistry([meter]) })
  app = (await startApi(p)).app
})
afterEach(async () => {
  await app.close()
  await p.stop()
})

const send = (body: unknown) => app.inject({ method: 'POST', url: '/inputs/messages', payload: body as object })
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64')

describe('POST /inputs/messages', () => {
  it('takes base64, JSON text and objects, writes them in the order given, and answers with no error entries', async () => {
    const res = await send({
      messages: [
        { messageId: 'a', inputName: 'Readings', payload: b64({ meterId: 'm1', seq: 1 }), timestamp: { timeInMillis: 1 } },
        { messageId: 'b', inputName: 'Readings', payload: '{"meterId": "m1", "seq": 2}' },
        { messageId: 'c', inputName: 'Readings', payload: { meterId: 'm1', seq: 3 } },
      ],
    })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual({ BatchPutMessageErrorEntries: [] })
    const twin = await waitFor('three readings', async () => {
      const t = await p.store.get('meter', 'm1')
      return t?.rev === 3 ? t : null
    })
    expect(twin.context).toEqual({ seqs: [1, 2, 3] })
  })

  it('answers per message, as BatchPutMessage did, and writes the good ones', async () => {
    const res = await send({
      messages: [
        { messageId: 'ok', inputName: 'Readings', payload: b64({ meterId: 'm2', seq: 1 }) },
        { messageId: 'unknown', inputName: 'Pressure', payload: b64({ meterId: 'm2', seq: 1 }) },
        { messageId: 'nokey', inputName: 'Readings', payload: b64({ seq: 1 }) },
        { messageId: 'schema', inputName: 'Readings', payload: b64({ meterId: 'm2', seq: 'one' }) },
        { messageId: 'garbage', inputName: 'Readings', payload: 'not base64 at all!' },
        { messageId: 'ok', inputName: 'Readings', payload: b64({ meterId: 'm2', seq: 2 }) },
      ],
    })
    expect(res.statusCode).toBe(200)
    const entries = res.json().BatchPutMessageErrorEntries as Array<{ messageId: string; errorCode: string; errorMessage: string }>
    expect(entries.map((e) => [e.messageId, e.errorCode, e.errorMessage.split(':')[0]])).toEqual([
      ['unknown', 'ResourceNotFoundException', 'TWIN_ERR_INPUT_UNKNOWN'],
      ['nokey', 'InvalidRequestException', 'TWIN_ERR_INPUT_KEY_MISSING'],
      ['schema', 'InvalidRequestException', 'TWIN_ERR_PAYLOAD_SCHEMA'],
      ['garbage', 'InvalidRequestException', 'TWIN_ERR_PAYLOAD_NOT_JSON'],
      ['ok', 'InvalidRequestException', 'TWIN_ERR_BAD_REQUEST'],
    ])
    expect(entries[0]!.errorMessage).toBe('TWIN_ERR_INPUT_UNKNOWN: no twin type takes input "Pressure"; inputs: Readings')
    await waitFor('the good one', async () => (await p.store.get('meter', 'm2'))?.rev === 1)
  })

  it.each([
    ['no messages', { messages: [] }],
    ['more than 10', { messages: Array.from({ length: 11 }, (_, i) => ({ messageId: `m${i}`, inputName: 'Readings', payload: b64({ meterId: 'x', seq: i }) })) }],
    ['a message without messageId', { messages: [{ inputName: 'Readings', payload: '{}' }] }],
    ['a messageId AWS would refuse', { messages: [{ messageId: 'a b', inputName: 'Readings', payload: '{}' }] }],
  ])('refuses %s as a whole with 400', async (_what, body) => {
    const res = await send(body)
    expect(res.statusCode).toBe(400)
    expect(res.json().error.code).toBe('TWIN_ERR_BAD_REQUEST')
  })
})

describe('message payloads', () => {
  it('reads base64 (the wire form of a blob), JSON text, or an object', () => {
    expect(messageText(b64({ a: 1 }))).toBe('{"a":1}')
    expect(messageText(' {"a": 20.0}')).toBe(' {"a": 20.0}')
    expect(messageText({ a: 1 })).toBe('{"a":1}')
    expect(thrown(() => messageText(42)).code).toBe('TWIN_ERR_PAYLOAD_NOT_OBJECT')
    expect(thrown(() => messageText('abc')).code).toBe('TWIN_ERR_PAYLOAD_NOT_JSON')
  })
})
