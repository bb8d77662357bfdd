import { TwinError } from '../errors.ts'

/**
 * A topic template such as `devices/{type}/{id}/{event}`: literal levels and
 * placeholders. `{id}` and `{event}` are required; `{type}` is required unless
 * the template belongs to one twin type (then the type is implied).
 */
export interface TopicTemplate {
  readonly source: string
  /** The MQTT subscription filter: every placeholder becomes `+`. */
  readonly filter: string
  /** Matches a topic split into levels; null when it does not fit. */
  match(levels: readonly string[]): TopicMatch | null
}

export interface TopicMatch {
  type?: string
  id: string
  event: string
}

const PLACEHOLDER = /^\{(type|id|event)\}$/

export const DEFAULT_TOPIC_TEMPLATE = 'devices/{type}/{id}/{event}'

export function parseTopicTemplate(source: string, impliedType?: string): TopicTemplate {
  const levels = source.split('/')
  const roles: (string | null)[] = levels.map((level) => PLACEHOLDER.exec(level)?.[1] ?? null)
  const fail = (why: string) =>
    new TwinError('TWIN_ERR_DEFINITION', `topic template "${source}" ${why}`, { template: source })
  for (const level of levels) {
    if (level.length === 0) throw fail('has an empty level')
    if (/[+#{}]/.test(level) && !PLACEHOLDER.test(level)) throw fail(`has an invalid level "${level}"`)
  }
  for (const name of ['id', 'event']) {
    if (roles.filter((r) => r === name).length !== 1) throw fail(`must contain {${name}} exactly once`)
  }
  const typeCount = roles.filter((r) => r === 'type').length
  if (typeCount > 1 || (typeCount === 0 && !impliedType)) throw fail('must contain {type} once, or belong to one twin type')

  return {
    source,
    filter: levels.map((level, i) => (roles[i] ? '+' : level)).join('/'),
    match(topicLevels) {
      if (topicLevels.length !== levels.length) return null
      const out: Partial<TopicMatch> = impliedType ? { type: impliedType } : {}
      for (let i = 0; i < levels.length; i++) {
        const role = roles[i]
        if (role === null) {
          if (topicLevels[i] !== levels[i]) return null
        } else {
          out[role as keyof TopicMatch] = topicLevels[i]
        }
      }
      return out as TopicMatch
    },
  }
}

/** MQTT topic of a derived event. */
export function derivedTopic(event: { type: string; twinId: string; name: string }): string {
  return `twins/${event.type}/${event.twinId}/events/${event.name}`
}

/** MQTT topic of a command to a device. */
export function commandTopic(type: string, id: string, name: string): string {
  return `devices/${type}/${id}/commands/${name}`
}

/** True for `devices/{type}/{id}/commands/{name}`: engine output, never device input. */
export function isCommandTopic(topic: string): boolean {
  const levels = topic.split('/', 6)
  return levels.length === 5 && levels[0] === 'devices' && levels[3] === 'commands'
}
