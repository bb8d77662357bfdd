import { emit } from 'xstate'

/** Default time a device has to acknowledge a command before it shows as timed out. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000

/** A command for a device, as a twin or rule action describes it. */
export interface CommandRequest {
  /** the device's twin; omitted in a twin's own machine = its own device */
  to?: { type: string; id: string }
  /** command name, `[A-Za-z][A-Za-z0-9_-]{0,63}`: the last level of `devices/{type}/{id}/commands/{name}` */
  name: string
  payload?: Record<string, unknown>
  /** how long the device has to acknowledge it; default 30 s */
  timeoutMs?: number
}

/** The event a command action emits; the engine takes it out of the derived events. */
export const COMMAND_EVENT = '$command'

export interface CommandEmit extends CommandRequest {
  type: typeof COMMAND_EVENT
}

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
    return request ? ({ ...request, type: COMMAND_EVENT } satisfies CommandEmit) : { type: COMMAND_EVENT, name: '' }
  })
}
