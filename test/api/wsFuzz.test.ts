import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseClientMessage } from '../../src/api/ws/schemas.ts'
import { waitFor } from '../support/env.ts'
import { startPipeline, type Pipeline } from '../support/pipeline.ts'
import { startWsApi, WsProbe } from '../support/wsApi.ts'

/**
 * Property-based fuzzing of WebSocket input: whatever a client sends, the
 * server answers each bad message with an error, never crashes, and the socket
 * stays usable (a ping afterwards gets its pong).
 */
let p: Pipeline
let app: FastifyInstance
let wsUrl: string
let c: WsProbe
beforeAll(async () => {
  p = await startPipeline()
  // A generous rate limit: this test is about parsing, not flow control.
  ;({ app, wsUrl } = await startWsApi(p, { rateLimit: 100_000, rateBurst: 100_000 }))
  c = await WsProbe.connect(wsUrl)
})
afterAll(async () => {
  c?.close()
  await app?.close()
  await p?.stop()
})

/** Sends frames, then a ping; resolves with the messages answering the frames. */
let round = 0
async function exchange(frames: Array<string | Buffer>): Promise<Array<Record<string, any>>> {
  const ref = `fuzz-${++round}`
  const start = c.messages.length
  for (const f of frames) c.socket.send(f, { binary: typeof f !== 'string' })
  c.send({ op: 'ping', ref })
  await waitFor(`pong ${ref}`, () => c.messages.slice(start).some((m) => m.op === 'pong' && m.ref === ref), 5000)
  const end = c.messages.findIndex((m, i) => i >= start && m.op === 'pong' && m.ref === ref)
  return c.messages.slice(start, end)
}

const ops = fc.constantFrom('hello', 'subscribe', 'unsubscribe', 'ping', 'pong', 'change', '', 'SUBSCRIBE', '__proto__', 'constructor')
/** Objects shaped like protocol messages with junk in their fields: the input most likely to slip through. */
const nearMessage = fc.record(
  {
    op: ops,
    id: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant('x'.repeat(100))),
    type: fc.oneof(fc.constant('counter'), fc.string(), fc.integer()),
    ids: fc.oneof(fc.array(fc.string(), { maxLength: 5 }), fc.string(), fc.array(fc.integer())),
    state: fc.oneof(fc.string(), fc.array(fc.anything(), { maxLength: 3 })),
    tags: fc.anything(),
    where: fc.oneof(
      fc.array(fc.record({ path: fc.oneof(fc.constant('context.count'), fc.string(), fc.constant('context.' + 'a.'.repeat(20) + 'b')), op: fc.oneof(fc.constantFrom('eq', 'lt', 'in', 'exists', 'regex'), fc.string()), value: fc.anything() }), { maxLength: 12 }),
      fc.anything(),
    ),
    since: fc.oneof(fc.dictionary(fc.string(), fc.oneof(fc.integer({ min: -5, max: 5 }), fc.double(), fc.string())), fc.anything()),
    protocol: fc.anything(),
    events: fc.anything(),
  },
  { requiredKeys: ['op'] },
)

/** A message the protocol's schemas refuse (the fuzzer mostly makes these). */
function refused(m: Record<string, unknown>): boolean {
  try {
    parseClientMessage(JSON.stringify(m))
    return false
  } catch {
    return true
  }
}

describe('WebSocket input fuzzing', () => {
  it('answers arbitrary JSON values and strings with errors, one per frame', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.json().filter((j) => !/^\s*\{/.test(j)), fc.string({ unit: 'binary' }).filter((s) => !/^\s*\{/.test(s))), { minLength: 1, maxLength: 5 }), async (frames) => {
        const answers = await exchange(frames)
        expect(answers.map((m) => [m.op, m.code])).toEqual(frames.map(() => ['error', 'TWIN_ERR_WS_BAD_MESSAGE']))
      }),
      { numRuns: 60 },
    )
  })

  it('answers near-protocol objects with junk fields with exactly one error each', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(nearMessage.filter(refused), { minLength: 1, maxLength: 4 }), async (messages) => {
        const answers = await exchange(messages.map((m) => JSON.stringify(m)))
        expect(answers.map((m) => [m.op, m.code])).toEqual(messages.map(() => ['error', 'TWIN_ERR_WS_BAD_MESSAGE']))
      }),
      { numRuns: 150 },
    )
  })

  it('stays usable whatever mix of valid and invalid messages arrives', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(nearMessage, { minLength: 1, maxLength: 6 }), async (messages) => {
        const answers = await exchange(messages.map((m) => JSON.stringify(m)))
        for (const e of answers.filter((m) => m.op === 'error')) expect(e.code).toMatch(/^TWIN_ERR_(WS_BAD_MESSAGE|UNKNOWN_TYPE)$/)
        expect(answers.filter((m) => m.op === 'error').length).toBeGreaterThanOrEqual(messages.filter(refused).length)
      }),
      { numRuns: 100 },
    )
  })

  it('answers binary frames, deeply nested junk and large frames under the limit with errors', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
          fc.integer({ min: 1, max: 5000 }).map((depth) => '['.repeat(depth) + ']'.repeat(depth)),
          fc.integer({ min: 1, max: 3000 }).map((depth) => `{"op":"subscribe","type":"counter","where":${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}}`),
          fc.integer({ min: 1000, max: 60_000 }).map((n) => JSON.stringify({ op: 'subscribe', type: 'counter', ids: Array.from({ length: Math.floor(n / 8) }, (_, i) => `i${i}`), junk: 1 })),
          fc.string({ minLength: 30_000, maxLength: 60_000 }),
        ),
        async (frame) => {
          const answers = await exchange([frame])
          expect(answers.map((m) => m.op)).toEqual(['error'])
        },
      ),
      { numRuns: 40 },
    )
    expect(c.closed).toBeNull()
    expect(c.schemaErrors).toEqual([])
  })
})
