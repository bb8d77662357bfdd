import { ID_PATTERN } from '../model/ids.ts'
import { topicFilterProblem } from '../model/topicFilters.ts'

/**
 * Input topics (ADR 0021): a twin type may take messages from topics outside
 * its device topic template, reading the twin id from a path in the payload.
 * Several twin types may take one topic: each message reaches each of them.
 * This module checks the declarations; inputMessages.ts decides what one
 * message becomes for each twin type.
 */

/** What a definition declares in `inputs`. */
export interface TopicInputDeclaration {
  /** MQTT topic filter the messages arrive on (`+` and `#` allowed); not under `devices/` or `twins/`, not `$…` */
  topic: string
  /** the declared event each message becomes */
  event: string
  /** the input's name: what `POST /inputs/messages` and derived events feed by (default: the event name) */
  name?: string
  /**
   * Where the twin id is in the payload: names separated by dots, a name in
   * backticks when it has other characters than `A-Z a-z 0-9 _ -`
   * (`sensor.serial`, `` `device id` ``). The value is mapped to an id
   * reversibly (src/model/keyIds.ts). Absent: every message goes to twin `id`.
   */
  keyPath?: string
  /** the twin every message goes to when there is no `keyPath` (default `default`) */
  id?: string
  /**
   * What the machine receives: `payload` (default): the message's JSON object
   * is the event's payload, as a device event's; `message`: `{ message: <the
   * JSON text as received>, messageId? }`, which keeps number lexemes (`20.0`)
   * and fields named `type` or `at`.
   */
  as?: 'payload' | 'message'
  /** names this input in errors and dead letters (default `twin type <type>, input <name>`) */
  label?: string
}

/** A declaration, checked and completed. */
export interface TopicInput {
  topic: string
  event: string
  name: string
  /** path segments, or null: every message goes to `id` */
  keyPath: readonly string[] | null
  /** the key path as written, for messages */
  keyPathText: string | null
  id: string
  as: 'payload' | 'message'
  label: string
}

/** Input names: IoT Events' (`^[a-zA-Z][a-zA-Z0-9_]*$`, 128) and the engine's event names. */
export const INPUT_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/
/** Topics an input may not take: device events, the engine's own output, broker system topics. */
const RESERVED_PREFIXES = ['devices/', 'twins/']
export const DEFAULT_INPUT_ID = 'default'

/** Checks one declaration of `type`; `fail` throws the definition error. */
export function checkTopicInput(type: string, events: Record<string, unknown>, d: TopicInputDeclaration, fail: (why: string) => never): TopicInput {
  if (!d || typeof d !== 'object') fail('inputs must be objects { topic, event, keyPath?, id?, name?, as? }')
  const where = `input on "${String(d.topic)}"`
  const topicProblem = topicFilterProblem(d.topic)
  if (topicProblem) fail(`${where}: the topic ${topicProblem}`)
  if (d.topic.startsWith('$') || RESERVED_PREFIXES.some((p) => d.topic.startsWith(p) || `${d.topic}/`.startsWith(p)) || d.topic === '#' || d.topic.startsWith('+/') || d.topic === '+') {
    fail(`${where}: input topics may not be under devices/ or twins/ (the engine's own) or start with $ or a wildcard`)
  }
  if (typeof d.event !== 'string' || !Object.hasOwn(events, d.event)) fail(`${where}: event "${String(d.event)}" is not one of the declared events`)
  const name = d.name ?? d.event
  if (typeof name !== 'string' || !INPUT_NAME_PATTERN.test(name)) fail(`${where}: name "${String(name)}" must match [A-Za-z][A-Za-z0-9_.-]{0,127}`)
  let keyPath: string[] | null = null
  if (d.keyPath !== undefined) {
    keyPath = parseKeyPath(d.keyPath)
    if (!keyPath) fail(`${where}: keyPath "${String(d.keyPath)}" must be names separated by dots, a name in backticks when it has other characters`)
    if (d.id !== undefined) fail(`${where}: give keyPath or id, not both`)
  }
  const id = d.id ?? DEFAULT_INPUT_ID
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) fail(`${where}: id "${String(id)}" must match [A-Za-z0-9._:-]{1,128}`)
  const as = d.as ?? 'payload'
  if (as !== 'payload' && as !== 'message') fail(`${where}: as must be "payload" or "message"`)
  if (d.label !== undefined && typeof d.label !== 'string') fail(`${where}: label must be a string`)
  return { topic: d.topic, event: d.event, name, keyPath, keyPathText: keyPath ? d.keyPath! : null, id, as, label: d.label ?? `twin type ${type}, input ${name}` }
}

/**
 * A key path (`a.b`, `` `serial no`.x ``) as segments, or null when it is not
 * one. The grammar of IoT Events' `key` and attribute `jsonPath`.
 */
export function parseKeyPath(path: unknown): string[] | null {
  if (typeof path !== 'string' || path.length === 0 || path.length > 1024) return null
  const segments: string[] = []
  let i = 0
  while (i < path.length) {
    if (path[i] === '`') {
      const close = path.indexOf('`', i + 1)
      if (close < 0 || close === i + 1) return null
      segments.push(path.slice(i + 1, close))
      i = close + 1
    } else {
      const m = /^[\w-]+/.exec(path.slice(i))
      if (!m) return null
      segments.push(m[0])
      i += m[0].length
    }
    if (i < path.length) {
      if (path[i] !== '.') return null
      i++
      if (i === path.length) return null
    }
  }
  return segments
}

/** The value at `path` in a parsed message (objects only), or undefined. */
export function valueAt(body: unknown, path: readonly string[]): unknown {
  let node = body
  for (const segment of path) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.hasOwn(node, segment)) return undefined
    node = (node as Record<string, unknown>)[segment]
  }
  return node
}

