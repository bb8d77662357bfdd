import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { startReceiver } from './httpReceiver.ts'
import { loadConfig } from '../../src/config.ts'
import { startEngine, type Engine } from '../../src/roles/engine.ts'
import { connectRedis } from '../../src/store/redis.ts'
import type { RedisClient } from '../../src/store/redis.ts'
import { dropPrefix, FIXTURE_TWINS, redisEnv, silentLog, waitFor } from '../support/env.ts'

const cleanups: Array<() => Promise<unknown> | void> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

/** The shipped rules/ take input from the shipped twins, which the fixtures are not: no rules (a missing folder). */
const NO_RULES = join(tmpdir(), `twin-no-rules-${randomUUID()}`)

/** An engine on a fresh key prefix, or on `prefix` (a restart: its cleanup is the first engine's). */
async function engine(env: Record<string, string>, prefix?: string): Promise<Engine> {
  if (!prefix) prefix = `t${randomUUID().slice(0, 8)}:`
  else return startOn(prefix, env)
  const p = prefix
  cleanups.push(async () => {
    const redis = connectRedis(redisEnv().REDIS_URL!, 'cleanup', redisEnv().REDIS_CLUSTER === 'true')
    await dropPrefix(redis, p)
    await redis.quit()
  })
  return startOn(prefix, env)
}

async function startOn(prefix: string, env: Record<string, string>): Promise<Engine> {
  const config = loadConfig({ ...redisEnv(), KEY_PREFIX: prefix, MQTT_PORT: '0', HTTP_PORT: '0', DEMO: 'false', SHARDS: '4', TWINS_DIR: FIXTURE_TWINS, RULES_DIR: NO_RULES, AUTH: 'open', ...env })
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

  it('a retry goes to the URL the file has now; a ?token= in the URL never reaches Redis or GET /effects/failed', async () => {
    const old = await startReceiver(() => 503)
    const moved = await startReceiver(() => 200)
    cleanups.push(() => old.close(), () => moved.close())
    const dir = mkdtempSync(join(tmpdir(), 'twin-webhooks-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'webhooks.json')
    const hook = (url: string) => JSON.stringify([{ name: 'counts', url, events: ['counter.counted'], attempts: 2, backoffMs: 10 }])
    writeFileSync(file, hook(`${old.url}?token=old-s3cret`))
    const prefix = `t${randomUUID().slice(0, 8)}:`
    const first = await engine({ WEBHOOKS_FILE: file, KEY_PREFIX: prefix })
    expect((await fetch(`${first.httpUrl}/twins/counter/r1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event: 'inc', payload: { seq: 1 } }) })).status).toBe(202)
    await waitFor('failed for good', async () => ((await (await fetch(`${first.httpUrl}/effects/failed`)).json()) as { total: number }).total === 1)
    expect(old.log.map((r) => [r.url, r.status])).toEqual([['/hook?token=old-s3cret', 503], ['/hook?token=old-s3cret', 503]])
    const failed = (await (await fetch(`${first.httpUrl}/effects/failed`)).json()) as { failed: Array<Record<string, unknown>> }
    expect(failed.failed[0]).toMatchObject({ webhook: 'counts', url: `${old.url}?***`, failedReason: `POST ${old.url}?***: HTTP 503 Service Unavailable` })
    expect(JSON.stringify(failed)).not.toContain('s3cret')
    await first.stop()

    // The receiver moved: the file is edited and the engine restarted.
    writeFileSync(file, hook(`${moved.url}?token=new-s3cret`))
    const second = await engine({ WEBHOOKS_FILE: file, KEY_PREFIX: prefix }, prefix)
    const view = (await (await fetch(`${second.httpUrl}/effects/failed`)).json()) as { failed: Array<{ jobId: string; url: string }> }
    expect(view.failed.map((f) => f.url)).toEqual([`${moved.url}?***`])
    const retry = await fetch(`${second.httpUrl}/effects/failed/${encodeURIComponent(view.failed[0]!.jobId)}/retry`, { method: 'POST' })
    expect(retry.status).toBe(202)
    await waitFor('delivered to the new URL', () => moved.delivered().length === 1)
    expect(moved.delivered()[0]).toMatchObject({ url: '/hook?token=new-s3cret', body: { twinId: 'r1' } })
    expect(old.log).toHaveLength(2)

    // Nothing under the prefix (job data, failedReason, events) holds either token.
    const redis = connectRedis(redisEnv().REDIS_URL!, 'inspect', redisEnv().REDIS_CLUSTER === 'true')
    cleanups.push(() => redis.quit())
    const dump = await dumpPrefix(redis, prefix)
    // The dump holds the job and its failures (so a token would show), redacted.
    expect(dump).toContain('webhooks:counts~counter/r1')
    expect(dump).toContain('/hook?***: HTTP 503')
    expect(dump).not.toContain('s3cret')
  })

  it('refuses to start with an invalid webhooks file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'twin-webhooks-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'webhooks.json')
    writeFileSync(file, JSON.stringify([{ name: 'x', url: 'mailto:ops@example.com', events: ['counter.counted'] }]))
    await expect(engine({ WEBHOOKS_FILE: file })).rejects.toMatchObject({ code: 'TWIN_ERR_CONFIG', message: expect.stringContaining('"url" must use http or https, not mailto:') })
  })
})

/** Every string, hash, list, set, zset and stream value under `prefix`, as one text (all nodes of a cluster). */
async function dumpPrefix(redis: RedisClient, prefix: string): Promise<string> {
  const nodes = 'nodes' in redis ? redis.nodes('master') : [redis]
  const out: string[] = []
  for (const node of nodes) {
    for (const key of await node.keys(`${prefix}*`)) {
      const type = await node.type(key)
      const value = type === 'string' ? await node.get(key)
        : type === 'hash' ? await node.hgetall(key)
          : type === 'list' ? await node.lrange(key, '0', '-1')
            : type === 'set' ? await node.smembers(key)
              : type === 'zset' ? await node.zrange(key, '0', '-1')
                : type === 'stream' ? await node.xrange(key, '-', '+')
                  : null
      out.push(`${key} ${JSON.stringify(value)}`)
    }
  }
  return out.join('\n')
}
