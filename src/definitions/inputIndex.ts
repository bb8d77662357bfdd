import type { TwinDefinition } from './defineTwin.ts'
import type { InputTarget } from './inputMessages.ts'
import { TwinError } from '../errors.ts'
import { filterMatches, filtersOverlap, isExactTopic } from '../model/topicFilters.ts'

const NONE: readonly InputTarget[] = Object.freeze([])

/**
 * The input topics of every twin type (ADR 0021), indexed for ingest: by
 * topic (exact topics in a map, filters with wildcards checked in turn) and
 * by input name (`POST /inputs/messages`, derived events feeding an input).
 * Targets keep definition order, then declaration order: that is the order
 * of one message's inbox entries.
 */
export class InputIndex {
  private readonly exact = new Map<string, InputTarget[]>()
  private readonly wildcards: InputTarget[] = []
  private readonly byName = new Map<string, InputTarget[]>()
  private readonly all: InputTarget[] = []

  /** Throws TWIN_ERR_DEFINITION when an input topic overlaps a device topic template (`templates`: their filters). */
  constructor(definitions: Iterable<TwinDefinition>, templates: ReadonlyArray<{ filter: string; source: string }>) {
    for (const definition of definitions) {
      for (const input of definition.inputs) {
        const clash = templates.find((t) => filtersOverlap(t.filter, input.topic))
        if (clash) {
          throw new TwinError('TWIN_ERR_DEFINITION', `twin definition "${definition.type}": input topic "${input.topic}" overlaps the device topic template "${clash.source}"; a message there would be read both ways: choose another topic`)
        }
        const target = { definition, input }
        this.all.push(target)
        if (isExactTopic(input.topic)) push(this.exact, input.topic, target)
        else this.wildcards.push(target)
        push(this.byName, input.name, target)
      }
    }
  }

  /** Every target whose topic filter matches `topic`, in declaration order; empty when none. */
  onTopic(topic: string): readonly InputTarget[] {
    // Device events (the bulk of the traffic) never are input messages: no input topic is under devices/.
    if (this.all.length === 0 || topic.startsWith('devices/')) return NONE
    const exact = this.exact.get(topic)
    if (this.wildcards.length === 0) return exact ?? NONE
    const matched = this.all.filter((t) => (isExactTopic(t.input.topic) ? t.input.topic === topic : filterMatches(t.input.topic, topic)))
    return matched.length ? matched : NONE
  }

  /** Every target taking the input of this name; empty when none. */
  named(name: string): readonly InputTarget[] {
    return this.byName.get(name) ?? NONE
  }

  /** True when some type takes messages on this topic (a derived event must not be published there: it would loop). */
  takes(topic: string): boolean {
    return this.onTopic(topic).length > 0
  }

  /** The distinct input topic filters: the ingest subscribes to them. */
  get filters(): string[] {
    return [...new Set(this.all.map((t) => t.input.topic))]
  }

  get names(): string[] {
    return [...this.byName.keys()]
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key)
  if (list) list.push(value)
  else map.set(key, [value])
}
