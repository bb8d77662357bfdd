import { readFile } from 'node:fs/promises'
import { TwinError } from '../errors.ts'
import type { DerivedEvent } from '../model/record.ts'

/** One configured webhook (WEBHOOKS_FILE), validated, with its event patterns compiled. */
export interface Webhook {
  name: string
  url: string
  /** `<twin type or rule name>.<derived event name>`, `*` matching any run of characters within a part */
  events: string[]
  headers: Record<string, string>
  attempts: number
  backoffMs: number
  timeoutMs: number
  /** true when the derived event matches one of `events` */
  matches(event: Pick<DerivedEvent, 'type' | 'name'>): boolean
}

export const WEBHOOK_DEFAULTS = { attempts: 8, backoffMs: 1000, timeoutMs: 5000 } as const

/** Headers the engine sets on every delivery; a webhook cannot override them. */
export const RESERVED_HEADERS = ['content-type', 'x-twin-event-id', 'x-twin-webhook'] as const

/** Webhook names go into BullMQ job ids (`<name>~<event id>`), so no `~`, `:` or `/`. */
const NAME = /^[A-Za-z0-9._-]{1,64}$/
/** Twin types and rule names are `[a-z][a-z0-9-]*`; a pattern part may add `*`. */
const TYPE_PART = /^[a-z0-9*-]+$/
const NAME_PART = /^\S+$/
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const KNOWN_FIELDS = new Set(['name', 'url', 'events', 'headers', 'attempts', 'backoffMs', 'timeoutMs'])
/** At most 20 tries, each wait capped at 1 h (webhookBackoff): a delivery gives up within about a day. */
const LIMITS = { attempts: [1, 20], backoffMs: [1, 3_600_000], timeoutMs: [1, 60_000] } as const

/**
 * Reads and validates WEBHOOKS_FILE. No file configured: no webhooks. Throws
 * TWIN_ERR_CONFIG naming the file, the webhook and the problem, so a bad file
 * stops the engine at startup instead of losing deliveries later.
 */
export async function loadWebhooks(path: string | undefined): Promise<Webhook[]> {
  if (!path) return []
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new TwinError('TWIN_ERR_CONFIG', `WEBHOOKS_FILE=${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); point it at a JSON file or unset it`)
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new TwinError('TWIN_ERR_CONFIG', `WEBHOOKS_FILE=${path} is not valid JSON: ${(err as Error).message}`)
  }
  return parseWebhooks(json, `WEBHOOKS_FILE=${path}`)
}

/** Validates the parsed JSON of a webhooks file: an array of webhook objects. */
export function parseWebhooks(json: unknown, source = 'webhooks'): Webhook[] {
  const fail = (why: string): never => {
    throw new TwinError('TWIN_ERR_CONFIG', `${source}: ${why}`)
  }
  if (!Array.isArray(json)) fail('expected a JSON array of webhooks: [{ "name", "url", "events": ["<twin type>.<event name>", ...] }]')
  const seen = new Set<string>()
  return (json as unknown[]).map((raw, i) => {
    const webhook = parseWebhook(raw, (why) => fail(`webhook ${i}${isObject(raw) && typeof raw.name === 'string' ? ` ("${raw.name}")` : ''}: ${why}`))
    if (seen.has(webhook.name)) fail(`webhook name "${webhook.name}" is used twice; names must be unique (jobs and the dead-letter view are keyed by them)`)
    seen.add(webhook.name)
    return webhook
  })
}

function parseWebhook(raw: unknown, fail: (why: string) => never): Webhook {
  if (!isObject(raw)) fail('expected an object with name, url and events')
  const o = raw as Record<string, unknown>
  const unknown = Object.keys(o).filter((k) => !KNOWN_FIELDS.has(k))
  if (unknown.length) fail(`unknown field ${unknown.map((k) => `"${k}"`).join(', ')}; the fields are ${[...KNOWN_FIELDS].join(', ')}`)
  if (typeof o.name !== 'string' || !NAME.test(o.name)) fail('"name" must be 1-64 characters of A-Z a-z 0-9 . _ -')
  const url = parseUrl(o.url, fail)
  if (!Array.isArray(o.events) || o.events.length === 0) fail('"events" must be a non-empty array of patterns like "elevator.faulted", "building-*.*" or "*.offline"')
  const events = (o.events as unknown[]).map((p) => {
    if (typeof p !== 'string') fail('every entry of "events" must be a string')
    return checkPattern(p as string, fail)
  })
  const headers: Record<string, string> = {}
  if (o.headers !== undefined) {
    if (!isObject(o.headers)) fail('"headers" must be an object of header name to string value')
    for (const [name, value] of Object.entries(o.headers as Record<string, unknown>)) {
      if (!HEADER_NAME.test(name)) fail(`header name "${name}" is not a valid HTTP header name`)
      if ((RESERVED_HEADERS as readonly string[]).includes(name.toLowerCase())) fail(`header "${name}" is set by the engine and cannot be configured`)
      if (typeof value !== 'string' || /[\r\n]/.test(value)) fail(`header "${name}" must be a string without line breaks`)
      headers[name] = value as string
    }
  }
  const int = (field: keyof typeof LIMITS): number => {
    const value = o[field] ?? WEBHOOK_DEFAULTS[field]
    const [min, max] = LIMITS[field]
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) fail(`"${field}" must be an integer from ${min} to ${max}`)
    return value as number
  }
  const matchers = events.map(compilePattern)
  return {
    name: o.name as string,
    url,
    events,
    headers,
    attempts: int('attempts'),
    backoffMs: int('backoffMs'),
    timeoutMs: int('timeoutMs'),
    matches: (event) => matchers.some((m) => m(event)),
  }
}

function parseUrl(raw: unknown, fail: (why: string) => never): string {
  if (typeof raw !== 'string') fail('"url" must be an http:// or https:// URL')
  let url: URL
  try {
    url = new URL(raw as string)
  } catch {
    return fail(`"url" ${JSON.stringify(raw)} is not a valid URL; expected http://host[:port]/path or https://…`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`"url" must use http or https, not ${url.protocol}`)
  // fetch refuses such a URL at every delivery, and its error quotes the secret.
  if (url.username || url.password) fail('"url" must not carry a user name or password (user:pass@host); send them as a header instead: "headers": { "authorization": "Basic <base64 of user:password>" }')
  return url.href
}

/**
 * The URL as it may be shown in logs, error messages and GET /effects/failed:
 * the query (which may carry a `?token=`) and the fragment replaced by `***`.
 * Secrets stay in WEBHOOKS_FILE (docs/effects.md).
 */
export function redactUrl(href: string): string {
  const url = new URL(href)
  if (url.username || url.password) {
    url.username = '***'
    url.password = ''
  }
  const query = url.search ? '?***' : ''
  url.search = ''
  url.hash = ''
  return `${url.href}${query}`
}

function checkPattern(pattern: string, fail: (why: string) => never): string {
  const dot = pattern.indexOf('.')
  const type = pattern.slice(0, dot)
  const name = pattern.slice(dot + 1)
  if (dot < 1 || name === '' || !TYPE_PART.test(type) || !NAME_PART.test(name)) {
    fail(`event pattern "${pattern}" must be <twin type or rule name>.<derived event name>, with * as a wildcard in either part (e.g. "elevator.faulted", "building-*.*", "*.offline")`)
  }
  return pattern
}

/** `type.name` pattern -> predicate; `*` matches any run of characters, within its part. */
export function compilePattern(pattern: string): (event: Pick<DerivedEvent, 'type' | 'name'>) => boolean {
  const dot = pattern.indexOf('.')
  const glob = (part: string) => new RegExp(`^${part.split('*').map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's')
  const type = glob(pattern.slice(0, dot))
  const name = glob(pattern.slice(dot + 1))
  return (event) => type.test(event.type) && name.test(event.name)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
