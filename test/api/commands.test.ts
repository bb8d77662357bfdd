import type { FastifyInstance } from 'fastify'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { startApi } from '../support/api.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'

let p: Pipeline
let app: FastifyInstance
beforeEach(async () => {
  p = await startPipeline()
  app = (await startApi(p)).app
})
afterEach(async () => {
  await app.close()
  await p.stop()
})

describe('commands and attributes over HTTP', () => {
  it('records a command on the twin as pending, with who asked and what', async () => {
    const res = await app.inject({ method: 'POST', url: '/twins/counter/k1/commands', payload: { name: 'reboot', payload: { after: 5 }, timeoutMs: 60_000 } })
    expect(res.statusCode).toBe(202)
    const { commandId } = res.json()
    expect(commandId).toMatch(/^api-/)
    const twin = await waitFor('the command on the twin', async () => {
      const r = await app.inject({ url: '/twins/counter/k1' })
      return r.statusCode === 200 ? r.json() : null
    })
    expect(twin.commands.reboot).toMatchObject({ id: commandId, status: 'pending', by: 'api', payload: { after: 5 } })
    expect(twin.commands.reboot.due - twin.commands.reboot.sentAt).toBe(60_000)
  })

  it('refuses a bad command with a code', async () => {
    const cases: Array<[string, unknown, number, string]> = [
      ['/twins/toaster/k1/commands', { name: 'x' }, 404, 'TWIN_ERR_UNKNOWN_TYPE'],
      ['/twins/counter/bad%20id/commands', { name: 'x' }, 400, 'TWIN_ERR_INVALID_ID'],
      ['/twins/counter/k1/commands', { name: '../x' }, 400, 'TWIN_ERR_COMMAND_INVALID'],
      ['/twins/counter/k1/commands', { payload: {} }, 400, 'TWIN_ERR_BAD_REQUEST'],
      ['/twins/counter/k1/commands', { name: 'x', timeoutMs: 0 }, 400, 'TWIN_ERR_BAD_REQUEST'],
    ]
    for (const [url, body, status, code] of cases) {
      const res = await app.inject({ method: 'POST', url, payload: body as object })
      expect([res.statusCode, res.json().error?.code], url).toEqual([status, code])
    }
  })

  it('sets and removes attributes with the engine event `attributes`, refusing non-string values', async () => {
    const post = (payload: unknown) => app.inject({ method: 'POST', url: '/twins/counter/k2/events', payload: { event: 'attributes', payload } as object })
    expect((await post({ site: 's1', area: 'north' })).statusCode).toBe(202)
    await waitFor('attributes', async () => (await p.store.get('counter', 'k2'))?.attributes?.area === 'north')
    expect((await post({ area: null })).statusCode).toBe(202)
    await waitFor('area removed', async () => {
      const a = (await p.store.get('counter', 'k2'))?.attributes
      return a && !('area' in a) && a.site === 's1'
    })
    const bad = await post({ site: 5 })
    expect([bad.statusCode, bad.json().error.code]).toEqual([400, 'TWIN_ERR_PAYLOAD_SCHEMA'])
  })
})
