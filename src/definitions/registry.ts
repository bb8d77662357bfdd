import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { StateValue } from 'xstate'
import { ruleAsTwin, type RuleDefinition, type RuleInput } from './defineRule.ts'
import type { TwinDefinition } from './defineTwin.ts'
import { InputIndex } from './inputIndex.ts'
import { TwinError } from '../errors.ts'
import type { TopicMatch, TopicTemplate } from '../model/topics.ts'
import { allowDefinitionsFrom } from './externalDefinitions.ts'

/** A rule input, indexed by its source type: where a source twin's changes and events go. */
export interface RuleRoute {
  rule: RuleDefinition
  input: RuleInput
}

/**
 * The twin types and rules this engine knows (a rule actor runs on the same
 * step, store and timers as a twin), and the routes from source twin types
 * to the rules fed by them.
 */
export class TwinRegistry {
  private readonly byType = new Map<string, TwinDefinition>()
  /** twin types and rules (as twins: a rule actor runs like a twin), by name */
  private readonly actors = new Map<string, TwinDefinition>()
  private readonly templates: TopicTemplate[] = []
  private readonly byRule = new Map<string, RuleDefinition>()
  private readonly bySource = new Map<string, RuleRoute[]>()
  /** input topics of every twin type (ADR 0021) */
  readonly inputs: InputIndex

  constructor(definitions: Iterable<TwinDefinition>, rules: Iterable<RuleDefinition> = []) {
    for (const definition of definitions) {
      if (this.byType.has(definition.type)) {
        throw new TwinError('TWIN_ERR_DEFINITION', `twin type "${definition.type}" is defined twice`)
      }
      this.byType.set(definition.type, definition)
      this.actors.set(definition.type, definition)
      if (!this.templates.some((t) => t.source === definition.topic.source)) this.templates.push(definition.topic)
    }
    this.inputs = new InputIndex(this.byType.values(), this.templates)
    for (const rule of rules) {
      if (this.byType.has(rule.name) || this.byRule.has(rule.name)) {
        throw new TwinError('TWIN_ERR_DEFINITION', `rule "${rule.name}": the name is already used by a twin type or another rule`)
      }
      this.byRule.set(rule.name, rule)
      this.actors.set(rule.name, ruleAsTwin(rule))
    }
    for (const rule of this.byRule.values()) {
      for (const input of rule.inputs) {
        if (!this.byType.has(input.twin) && !this.byRule.has(input.twin)) {
          throw new TwinError('TWIN_ERR_DEFINITION', `rule "${rule.name}" takes input from "${input.twin}", which is neither a twin type nor a rule (twin types: ${this.types.join(', ')}); with twins of your own, point RULES_DIR at your rules`)
        }
        if (this.byRule.has(input.twin) && typeof input.groupBy === 'string') {
          throw new TwinError('TWIN_ERR_DEFINITION', `rule "${rule.name}" groups rule "${input.twin}" by attribute "${input.groupBy}", but rule actors have no attributes; group it with a function of the actor (its id is its group)`)
        }
        const routes = this.bySource.get(input.twin) ?? []
        routes.push({ rule, input })
        this.bySource.set(input.twin, routes)
      }
    }
    const cycle = this.ruleCycle()
    if (cycle) throw new TwinError('TWIN_ERR_DEFINITION', `rules feed each other in a loop (${cycle.join(' -> ')}): a feed would go round forever`)
  }

  /** A loop of rules fed by rules (a rule fed by itself included), or null. */
  private ruleCycle(): string[] | null {
    const state = new Map<string, 'visiting' | 'done'>()
    const visit = (name: string, path: string[]): string[] | null => {
      if (state.get(name) === 'done') return null
      if (state.get(name) === 'visiting') return [...path.slice(path.indexOf(name)), name]
      state.set(name, 'visiting')
      for (const { rule } of this.bySource.get(name) ?? []) {
        const found = visit(rule.name, [...path, name])
        if (found) return found
      }
      state.set(name, 'done')
      return null
    }
    for (const name of this.byRule.keys()) {
      const found = visit(name, [])
      if (found) return found
    }
    return null
  }

  get rules(): RuleDefinition[] {
    return [...this.byRule.values()]
  }

  rule(name: string): RuleDefinition | undefined {
    return this.byRule.get(name)
  }

  /** The rule inputs fed by twins (or rule actors) of `type`; empty when none. */
  routes(type: string): readonly RuleRoute[] {
    return this.bySource.get(type) ?? NO_ROUTES
  }

  get types(): string[] {
    return [...this.byType.keys()]
  }

  get(type: string): TwinDefinition | undefined {
    return this.byType.get(type)
  }

  /** The definition of `type`, or TWIN_ERR_UNKNOWN_TYPE naming the known types. */
  require(type: unknown): TwinDefinition {
    const definition = typeof type === 'string' ? this.byType.get(type) : undefined
    if (!definition) {
      const shown = typeof type === 'string' ? type.slice(0, 64) : String(type)
      throw new TwinError('TWIN_ERR_UNKNOWN_TYPE', `no twin type "${shown}"; known types: ${this.types.join(', ')}`)
    }
    return definition
  }

  /**
   * A twin type or rule name, for reading and subscribing (rule actors are
   * stored and served like twins), or TWIN_ERR_UNKNOWN_TYPE naming both.
   */
  requireActor(type: unknown): void {
    if (typeof type === 'string' && this.byRule.has(type)) return
    try {
      this.require(type)
    } catch (err) {
      if (this.byRule.size === 0) throw err
      throw new TwinError('TWIN_ERR_UNKNOWN_TYPE', `${(err as Error).message}; rules: ${[...this.byRule.keys()].join(', ')}`)
    }
  }

  /** The definition a twin or rule actor of `type` runs (a rule as a twin with no device events). */
  actor(type: string): TwinDefinition | undefined {
    return this.actors.get(type)
  }

  /**
   * XState tags of a stored state of a twin or rule actor (readers without a
   * live snapshot); undefined for a type gone or a state this definition
   * cannot restore.
   */
  tagsOf(type: string, value: StateValue, context: unknown): ReadonlySet<string> | undefined {
    try {
      return this.actors.get(type)?.machine.resolveState({ value, context } as never).tags
    } catch {
      return undefined
    }
  }

  /** Every twin type and rule, as the definitions their actors run. */
  get actorDefinitions(): TwinDefinition[] {
    return [...this.actors.values()]
  }

  /** MQTT subscription filters covering every definition's topic template and input topics. */
  get filters(): string[] {
    return [...new Set([...this.templates.map((t) => t.filter), ...this.inputs.filters])]
  }

  /** The first template that matches the topic levels, or null. */
  matchTopic(levels: readonly string[]): TopicMatch | null {
    for (const template of this.templates) {
      const match = template.match(levels)
      if (match) return match
    }
    return null
  }
}

const NO_ROUTES: readonly RuleRoute[] = Object.freeze([])

/**
 * Loads every `*.ts` / `*.js` file of `twinsDir` whose default export is a
 * twin definition (defineTwin), and of `rulesDir` (optional; a missing folder
 * means no rules) whose default export is a rule (defineRule). Files starting
 * with `_` are skipped.
 */
export async function loadTwinRegistry(twinsDir: string, rulesDir?: string): Promise<TwinRegistry> {
  const definitions = await loadModules<TwinDefinition>(twinsDir, 'TWINS_DIR', 'defineTwin', (d) => typeof d.type === 'string' && !!d.validators)
  if (definitions.length === 0) throw new TwinError('TWIN_ERR_CONFIG', `no twin definitions found in ${twinsDir} (set TWINS_DIR)`)
  const rules = rulesDir && existsSync(rulesDir) ? await loadModules<RuleDefinition>(rulesDir, 'RULES_DIR', 'defineRule', (r) => r.kind === 'rule') : []
  return new TwinRegistry(definitions, rules)
}

async function loadModules<T>(dir: string, setting: string, maker: string, isOne: (value: T) => boolean): Promise<T[]> {
  let files: string[]
  try {
    files = readdirSync(dir).filter((f) => /^[^_.].*\.(ts|js|mjs)$/.test(f) && !f.endsWith('.d.ts')).sort()
  } catch (err) {
    throw new TwinError('TWIN_ERR_CONFIG', `cannot read definitions from ${dir}: ${(err as Error).message} (set ${setting})`)
  }
  const out: T[] = []
  if (files.length) allowDefinitionsFrom(dir)
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as { default?: T }
    if (!mod.default || !isOne(mod.default)) {
      throw new TwinError('TWIN_ERR_DEFINITION', `${join(dir, file)} must \`export default ${maker}({...})\``)
    }
    out.push(mod.default)
  }
  return out
}
