import type { RuleInput, RuleSourceTwin } from '../definitions/defineRule.ts'
import type { RuleRoute } from '../definitions/registry.ts'
import { ID_PATTERN } from '../model/ids.ts'

/** One input for one rule actor: `<rule>/<group>` receives `event`. */
export interface RuleFeed {
  rule: string
  group: string
  /** `<twin type>.changed` or `<twin type>.<derived event name>` */
  event: string
  /** the derived event's fields (derived-event feeds only) */
  data?: Record<string, unknown>
}

/**
 * What one step of a source twin feeds the rules (DESIGN.md: rules are
 * actors too). Pure: the shard processor writes the feeds to its outbox, the
 * rule harness delivers those for its group.
 *
 * - `changes: 'all'`: every step; `'state'`: when the state value changes or
 *   the twin joins a group;
 * - a twin whose group changes sends its old group a last `<type>.changed`
 *   (its attributes now name another group), so the rule can forget it;
 * - derived events listed in an input's `events` go to the twin's group.
 *
 * `before` is null for a twin's first step.
 */
export function routeStep(
  routes: readonly RuleRoute[],
  before: RuleSourceTwin<unknown> | null,
  after: RuleSourceTwin<unknown>,
  events: ReadonlyArray<{ name: string; data: Record<string, unknown> }>,
): RuleFeed[] {
  const feeds: RuleFeed[] = []
  if (routes.length === 0) return feeds
  const changedValue = before === null || !sameValue(before.value, after.value)
  const changed = `${after.type}.changed`
  for (const { rule, input } of routes) {
    const group = groupOf(input, after)
    const was = before ? groupOf(input, before) : undefined
    const changes = input.changes ?? 'none'
    if (was && was !== group && changes !== 'none') feeds.push({ rule: rule.name, group: was, event: changed })
    if (!group) continue
    if (changes === 'all' || (changes === 'state' && (changedValue || group !== was))) feeds.push({ rule: rule.name, group, event: changed })
    if (input.events) {
      for (const e of events) if (input.events.includes(e.name)) feeds.push({ rule: rule.name, group, event: `${after.type}.${e.name}`, data: e.data })
    }
  }
  return feeds
}

/** The group a source twin belongs to under one input; undefined when none, not a valid id, or groupBy throws. */
export function groupOf(input: RuleInput, twin: RuleSourceTwin<unknown>): string | undefined {
  let group: unknown
  if (typeof input.groupBy === 'string') group = twin.attributes[input.groupBy]
  else {
    try {
      group = input.groupBy(twin)
    } catch {
      return undefined
    }
  }
  return typeof group === 'string' && ID_PATTERN.test(group) ? group : undefined
}

export function sameValue(a: unknown, b: unknown): boolean {
  return a === b || (typeof a === 'object' && typeof b === 'object' && JSON.stringify(a) === JSON.stringify(b))
}
