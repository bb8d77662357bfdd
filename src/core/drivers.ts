import { TwinDriver } from './twinDriver.ts'
import type { TwinRegistry } from '../definitions/registry.ts'

/** One pure step driver per twin type and rule of a registry, made once. */
export class Drivers {
  private readonly byType = new Map<string, TwinDriver>()

  constructor(readonly registry: TwinRegistry) {
    for (const definition of registry.actorDefinitions) this.byType.set(definition.type, new TwinDriver(definition))
  }

  /** The driver of a twin type or rule; undefined for a type no longer defined. */
  get(type: string): TwinDriver | undefined {
    return this.byType.get(type)
  }
}
