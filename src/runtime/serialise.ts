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
