/**
 * Names and identifiers every layer shares: twin types, ids and event names,
 * twin keys, the shard a twin lives in, timer members and stream ids.
 * Pure functions and patterns; the bottom floor (docs/architecture.md).
 */

/** Twin type and rule names: the `{type}` in topics and URLs. */
export const TYPE_PATTERN = /^[a-z][a-z0-9-]{0,63}$/
/** Event, derived event and command names: one MQTT topic level, never `$…` (the engine's own). */
export const EVENT_PATTERN = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/
/** Twin ids (and rule groups). */
export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/

/** `type/id`: the twin's key inside its shard. Types cannot contain `/`, ids cannot contain `/` or `|`. */
export function twinKey(type: string, id: string): string {
  return `${type}/${id}`
}

export function splitTwinKey(key: string): { type: string; id: string } {
  const slash = key.indexOf('/')
  return { type: key.slice(0, slash), id: key.slice(slash + 1) }
}

/**
 * Shard of a twin: FNV-1a (32 bit) of `type/id` mod the shard count. Changing
 * this function re-homes every twin: it is part of the storage format.
 */
export function shardOf(key: string, shards: number): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return (hash >>> 0) % shards
}

/** 0 .. shards-1 */
export function shardRange(shards: number): number[] {
  return Array.from({ length: shards }, (_, i) => i)
}

/** A pending timer in its shard's timer set: `type/id|timerId`. */
export function timerMember(key: string, timerId: string): string {
  return `${key}|${timerId}`
}

export function splitTimerMember(member: string): { key: string; timerId: string } {
  const bar = member.indexOf('|')
  return { key: member.slice(0, bar), timerId: member.slice(bar + 1) }
}

/** The engine time of an inbox entry: the millisecond part of its stream id (ADR 0002). */
export function eventTime(streamId: string): number {
  return Number(streamId.slice(0, streamId.indexOf('-')))
}

/** `ms-seq` stream ids compared as numbers: true when `a` comes after `b`. */
export function streamIdAfter(a: string, b: string): boolean {
  const [am, as] = a.split('-').map(Number) as [number, number]
  const [bm, bs] = b.split('-').map(Number) as [number, number]
  return am > bm || (am === bm && as > bs)
}
