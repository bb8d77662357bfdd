import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadConfig } from '../../src/config.ts'
import { startEngine, type Engine } from '../../src/engine.ts'
import { connectRedis } from '../../src/store/redis.ts'
import { dropPrefix, FIXTURE_TWINS, redisEnv, silentLog, waitFor } from '../support/env.ts'
import { startReceiver } from './httpReceiver.ts'

const cleanups: Array<() => Promise<unknown> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

async function engine(env: Record<string, string>): Promise<Engine> {
  const prefix = `t${randomUUID().slice(0, 8)}:`
  cleanups.push(async () => {
    const redis = connectRedis(redisEnv().REDIS_URL!, 'cleanup', redisEnv().REDIS_CLUSTER === 'true')
    await dropPrefix(redis, prefix)
    await redis.quit()
  })
  const config = loadConfig({ ...redisEnv(), KEY_PREFIX: prefix, MQTT_PORT: '0', HTTP_PORT: '0', DEMO: 'false', SHARDS: '4', TWINS_DIR: FIXTURE_TWINS, AUTH: 'open', ...env })
  const e = await startEngine(config, { log: silentLog })
  cleanups.push(() => e.stop())
  return e
}

describe('engine with WEBHOOKS_FILE', () => {
  it('POSTs a derived event to the configured URL, and GET /effects/failed answers', async () => {
    const receiver = await startReceiver((_id, nth) => (nth === 1 ? 500 : 200))
    cleanups.push(() => receiver.close())
    const dir = mkdtempSync(join(tmpdir(), 'twin-webhooks-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'webhooks.json')
    writeFileSync(file, JSON.stringify([{ name: 'counts', url: receiver.url, events: ['counter.counted'], backoffMs: 10 }]))
    const e = await engine({ WEBHOOKS_FILE: file })

    const post = await fetch(`${e.httpUrl}/twins/counter/e1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event: 'inc', payload: { seq: 1 } }) })
    expect(post.status).toBe(202)

    await waitFor('delivered', () => receiver.delivered().length === 1)
    const [delivery] = receiver.delivered()
    expect(delivery!.body).toMatchObject({ type: 'counter', twinId: 'e1', name: 'counted', data: { seq: 1 } })
    expect(receiver.log.map((r) => r.status)).toEqual([500, 200])
    expect(await (await fetch(`${e.httpUrl}/effects/failed`)).json()).toEqual({ failed: [], total: 0 })
  })

  it('refuses to start with an invalid webhooks file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twin-webhooks-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'webhooks.json')
    writeFileSync(file, JSON.stringify([{ name: 'x', url: 'mailto:ops@example.com', events: ['counter.counted'] }]))
    await expect(engine({ WEBHOOKS_FILE: file })).rejects.toMatchObject({ code: 'TWIN_ERR_CONFIG', message: expect.stringContaining('"url" must use http or https, not mailto:') })
  })
})
