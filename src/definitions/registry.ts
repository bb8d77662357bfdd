import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { TwinError } from '../errors.ts'
import type { TopicMatch, TopicTemplate } from '../ingest/topic.ts'
import { TwinDriver } from '../runtime/twinDriver.ts'
import type { TwinDefinition } from './defineTwin.ts'

/** The twin types this engine knows, with one driver each. */
export class TwinRegistry {
  private readonly byType = new Map<string, TwinDefinition>()
  private readonly drivers = new Map<string, TwinDriver>()
  private readonly templates: TopicTemplate[] = []

  constructor(definitions: Iterable<TwinDefinition>) {
    for (const definition of definitions) {
      if (this.byType.has(definition.type)) {
        throw new TwinError('TWIN_ERR_DEFINITION', `twin type "${definition.type}" is defined twice`)
      }
      this.byType.set(definition.type, definition)
      this.drivers.set(definition.type, new TwinDriver(definition))
      if (!this.templates.some((t) => t.source === definition.topic.source)) this.templates.push(definition.topic)
    }
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

  driver(type: string): TwinDriver | undefined {
    return this.drivers.get(type)
  }

  /** MQTT subscription filters covering every definition's topic template. */
  get filters(): string[] {
    return [...new Set(this.templates.map((t) => t.filter))]
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

/**
 * Loads every `*.ts` / `*.js` file of `dir` whose default export is a twin
 * definition (made with defineTwin). Files starting with `_` are skipped.
 */
export async function loadTwinRegistry(dir: string): Promise<TwinRegistry> {
  let files: string[]
  try {
    files = readdirSync(dir).filter((f) => /^[^_.].*\.(ts|js|mjs)$/.test(f) && !f.endsWith('.d.ts')).sort()
  } catch (err) {
    throw new TwinError('TWIN_ERR_CONFIG', `cannot read twin definitions from ${dir}: ${(err as Error).message} (set TWINS_DIR)`)
  }
  const definitions: TwinDefinition[] = []
  for (const file of files) {
    const mod = (await import(pathToFileURL(join(dir, file)).href)) as { default?: TwinDefinition }
    const definition = mod.default
    if (!definition || typeof definition.type !== 'string' || !definition.validators) {
      throw new TwinError('TWIN_ERR_DEFINITION', `${join(dir, file)} must \`export default defineTwin({...})\``)
    }
    definitions.push(definition)
  }
  if (definitions.length === 0) throw new TwinError('TWIN_ERR_CONFIG', `no twin definitions found in ${dir} (set TWINS_DIR)`)
  return new TwinRegistry(definitions)
}
