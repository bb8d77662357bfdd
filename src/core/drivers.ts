import { TwinDriver } from './twinDriver.ts'
import type { TwinRegistry } from '../definitions/registry.ts'

/** One pure step driver per twin type and rule of a registry, made once. */
export class Drivers {
  private readonly byType = new Map<string, TwinDriver>()

  constructor(readonly registry: TwinRegistry) {
    for (const definition of registry.actorDefinitions) this.byType.set(definition.type, new TwinDriver(definition))
  }

  /** The definition version of every twin type and rule this engine runs. */
  get versions(): Record<string, number> {
    const out: Record<string, number> = {}
    for (const [type, driver] of this.byType) out[type] = driver.definition.version
    return out
  }

  /** The driver of a twin type or rule; undefined for a type no longer defined. */
  get(type: string): TwinDriver | undefined {
    return this.byType.get(type)
  }
}
