import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { compilePattern, loadWebhooks, parseWebhooks } from '../../src/effects/webhookConfig.ts'
import { webhookJobId } from '../../src/effects/webhookQueue.ts'

const dir = mkdtempSync(join(tmpdir(), 'twin-webhooks-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function file(name: string, text: string): string {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

const configError = (message: string | RegExp) => expect.objectContaining({ code: 'TWIN_ERR_CONFIG', message: typeof message === 'string' ? expect.stringContaining(message) : expect.stringMatching(message) })

describe('WEBHOOKS_FILE', () => {
  it('no file: no webhooks', async () => {
    expect(await loadWebhooks(undefined)).toEqual([])
  })

  it('reads a file, fills in the defaults, and matches events by <type>.<name> with * per part', async () => {
    const path = file('ok.json', JSON.stringify([
      { name: 'ops-alerts', url: 'http://alerts.local:8080/in', events: ['elevator.faulted', 'building-elevator-availability.*', '*.offline'], headers: { authorization: 'Bearer x' } },
      { name: 'audit', url: 'https://audit.example/hook', events: ['*.*'], attempts: 3, backoffMs: 250, timeoutMs: 1000 },
    ]))
    const [ops, audit] = await loadWebhooks(path)
    expect(ops).toMatchObject({ name: 'ops-alerts', url: 'http://alerts.local:8080/in', headers: { authorization: 'Bearer x' }, attempts: 8, backoffMs: 1000, timeoutMs: 5000 })
    expect(audit).toMatchObject({ attempts: 3, backoffMs: 250, timeoutMs: 1000, headers: {} })
    const m = (type: string, name: string) => ops!.matches({ type, name })
    expect(m('elevator', 'faulted')).toBe(true)
    expect(m('elevator', 'faulted2')).toBe(false)
    expect(m('escalator', 'faulted')).toBe(false)
    expect(m('building-elevator-availability', 'changed')).toBe(true)
    expect(m('building-elevator-availability-x', 'changed')).toBe(false)
    expect(m('meter', 'offline')).toBe(true)
    expect(m('meter', 'online')).toBe(false)
    expect(audit!.matches({ type: 'meter', name: 'door.opened' })).toBe(true)
  })

  it('* matches within one part only, and a literal dot is literal', () => {
    expect(compilePattern('building-*.*')({ type: 'building-a', name: 'x' })).toBe(true)
    expect(compilePattern('building-*.*')({ type: 'buildings', name: 'x' })).toBe(false)
    expect(compilePattern('elevator.door.*')({ type: 'elevator', name: 'door.opened' })).toBe(true)
    expect(compilePattern('elevator.door.*')({ type: 'elevator', name: 'doorXopened' })).toBe(false)
    expect(compilePattern('*.offline')({ type: 'elevator.x', name: 'offline' })).toBe(true)
  })

  it.each([
    ['not an array', { name: 'x' }, 'expected a JSON array of webhooks'],
    ['a non-object entry', ['http://x'], 'webhook 0: expected an object'],
    ['a bad name', [{ name: 'ops alerts', url: 'http://x', events: ['a.b'] }], '"name" must be 1-64 characters'],
    ['a name with ~', [{ name: 'a~b', url: 'http://x', events: ['a.b'] }], '"name" must be'],
    ['a bad URL', [{ name: 'a', url: 'not a url', events: ['a.b'] }], 'webhook 0 ("a"): "url" "not a url" is not a valid URL'],
    ['a non-HTTP URL', [{ name: 'a', url: 'ftp://x/y', events: ['a.b'] }], '"url" must use http or https, not ftp:'],
    ['no events', [{ name: 'a', url: 'http://x', events: [] }], '"events" must be a non-empty array'],
    ['a pattern without a dot', [{ name: 'a', url: 'http://x', events: ['elevator'] }], 'event pattern "elevator" must be <twin type or rule name>.<derived event name>'],
    ['a pattern with an empty part', [{ name: 'a', url: 'http://x', events: ['elevator.'] }], 'event pattern "elevator."'],
    ['a pattern with an upper-case type', [{ name: 'a', url: 'http://x', events: ['Elevator.faulted'] }], 'event pattern "Elevator.faulted"'],
    ['a pattern with a space', [{ name: 'a', url: 'http://x', events: ['elevator.door opened'] }], 'event pattern "elevator.door opened"'],
    ['a duplicate name', [{ name: 'a', url: 'http://x', events: ['a.b'] }, { name: 'a', url: 'http://y', events: ['a.c'] }], 'webhook name "a" is used twice'],
    ['an unknown field', [{ name: 'a', url: 'http://x', events: ['a.b'], retries: 3 }], 'unknown field "retries"'],
    ['attempts out of range', [{ name: 'a', url: 'http://x', events: ['a.b'], attempts: 0 }], '"attempts" must be an integer from 1 to 20'],
    ['more than 20 attempts', [{ name: 'a', url: 'http://x', events: ['a.b'], attempts: 100, backoffMs: 3_600_000 }], '"attempts" must be an integer from 1 to 20'],
    ['a URL with a password', [{ name: 'a', url: 'https://user:pa55@x/hook', events: ['a.b'] }], '"url" must not carry a user name or password'],
    ['a fractional backoff', [{ name: 'a', url: 'http://x', events: ['a.b'], backoffMs: 1.5 }], '"backoffMs" must be an integer'],
    ['a timeout too long', [{ name: 'a', url: 'http://x', events: ['a.b'], timeoutMs: 600_000 }], '"timeoutMs" must be an integer from 1 to 60000'],
    ['a reserved header', [{ name: 'a', url: 'http://x', events: ['a.b'], headers: { 'X-Twin-Event-Id': '1' } }], 'header "X-Twin-Event-Id" is set by the engine'],
    ['a non-string header', [{ name: 'a', url: 'http://x', events: ['a.b'], headers: { 'x-n': 1 } }], 'header "x-n" must be a string'],
    ['a bad header name', [{ name: 'a', url: 'http://x', events: ['a.b'], headers: { 'bad header': 'v' } }], 'header name "bad header" is not a valid HTTP header name'],
  ])('refuses %s with TWIN_ERR_CONFIG', (_what, json, message) => {
    expect(() => parseWebhooks(json, 'WEBHOOKS_FILE=w.json')).toThrow(configError(message))
    expect(() => parseWebhooks(json, 'WEBHOOKS_FILE=w.json')).toThrow(/^WEBHOOKS_FILE=w\.json: /)
  })

  it('names the file when it is missing or not JSON', async () => {
    await expect(loadWebhooks(join(dir, 'missing.json'))).rejects.toThrow(configError(/^WEBHOOKS_FILE=.*missing\.json cannot be read \(ENOENT\)/))
    await expect(loadWebhooks(file('bad.json', '[{"name": '))).rejects.toThrow(configError(/^WEBHOOKS_FILE=.*bad\.json is not valid JSON/))
    await expect(loadWebhooks(file('dup.json', JSON.stringify([{ name: 'a', url: 'http://x', events: ['a.b'] }, { name: 'a', url: 'http://x', events: ['a.b'] }])))).rejects.toThrow(configError(/dup\.json: webhook name "a" is used twice/))
  })
})

describe('webhookJobId', () => {
  it('is stable, BullMQ-safe (no ":") and distinct per webhook and per event', () => {
    const ids = ['1700000000000-0:0', '1700000000000-0:1', 'counter/a:b@17:init:0', 'x%3A', 'x:']
    const jobIds = ids.flatMap((id) => ['a', 'b'].map((w) => webhookJobId(w, id)))
    expect(new Set(jobIds).size).toBe(jobIds.length)
    for (const j of jobIds) expect(j).not.toContain(':')
    expect(webhookJobId('a', '1-0:0')).toBe(webhookJobId('a', '1-0:0'))
  })
})
