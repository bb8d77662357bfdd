import { emit } from 'xstate'
import type { CommandEmit, CommandRequest } from '../model/commands.ts'
import { COMMAND } from '../model/engineEvents.ts'

export { DEFAULT_COMMAND_TIMEOUT_MS, type CommandEmit, type CommandRequest } from '../model/commands.ts'

/** The event a command action emits; the engine takes it out of the derived events. */
export const COMMAND_EVENT = COMMAND

/**
 * An action that commands a device (DESIGN.md "device commands"). The engine
 * records it on the target twin (desired state, pending), publishes it QoS 1
 * to `devices/{type}/{id}/commands/{name}` with a correlation id, and marks it
 * acknowledged, rejected or timed out from the device's `ack`.
 *
 *   actions: sendCommand(({ context }) => ({ to: { type: 'charger', id: 'c1' }, name: 'setMaxPower', payload: { maxPowerW: 7400 } }))
 *
 * Like every engine action it is pure data: nothing is sent until the step commits.
 */
export function sendCommand<TArgs = { context: any; event: any }>(build: (args: TArgs) => CommandRequest | undefined): any {
  return emit((args: unknown) => {
    const request = build(args as TArgs)
    // Nothing to command: an emit the engine drops (no derived event).
    return request ? ({ ...request, type: COMMAND } satisfies CommandEmit) : { type: COMMAND, name: '' }
  })
}
