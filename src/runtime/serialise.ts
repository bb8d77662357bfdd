import type { DerivedEvent, TwinView } from './shardBatch.ts'

const cache = new WeakMap<object, string>()

/**
 * JSON of a change notice or derived event, computed once per object however
 * many sockets, subscriptions and feeds it goes to.
 */
export function toJson(value: TwinView | DerivedEvent): string {
  let json = cache.get(value)
  if (json === undefined) {
    json = JSON.stringify(value)
    cache.set(value, json)
  }
  return json
}

const framed = new WeakMap<object, Map<string, Buffer>>()

/**
 * `prefix + JSON + '}'` as UTF-8 bytes, built once per (object, prefix): a
 * change going to a thousand sockets whose subscriptions share an id (the
 * default `s1`) is encoded once, not a thousand times.
 */
export function toMessage(prefix: string, value: TwinView | DerivedEvent): Buffer {
  let byPrefix = framed.get(value)
  if (!byPrefix) {
    byPrefix = new Map()
    framed.set(value, byPrefix)
  }
  let message = byPrefix.get(prefix)
  if (!message) {
    message = Buffer.from(`${prefix}${toJson(value)}}`)
    byPrefix.set(prefix, message)
  }
  return message
}
