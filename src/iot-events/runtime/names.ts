import { createHash } from 'node:crypto'
import type { DetectorModel } from '../model/types.ts'

/**
 * Names IoT Events allowed that the engine or XState cannot take, mapped
 * deterministically (the runtime and the code generator call the same
 * function, so a generated file and its runtime always agree):
 *
 * - state names (1-128 of anything) -> XState keys: `[A-Za-z0-9_-]` kept,
 *   anything else (`.` is XState's path separator) becomes `_`;
 * - input names (up to 128) -> device event names `[A-Za-z][A-Za-z0-9_-]{0,63}`,
 *   never the engine's own `attributes` / `ack`;
 * - transition events -> guard names, unique in the machine (event names are
 *   not unique in IoT Events: the ISA template repeats them).
 */
export interface DetectorNames {
  /** IoT Events state name -> XState state key */
  stateKeys: Record<string, string>
  /** XState state key -> IoT Events state name */
  stateNames: Record<string, string>
  /** input name -> device event name */
  inputEvents: Record<string, string>
  /** device event name -> input name */
  eventInputs: Record<string, string>
  /** state name -> guard name of each of its transition events, in order */
  guards: Record<string, string[]>
  /** state name -> guard of the reset-on-update transition that ends in it */
  resetGuards: Record<string, string>
}

const STATE_KEY = /^[A-Za-z0-9_-]+$/
const EVENT_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/
const ENGINE_EVENT_NAMES = new Set(['attributes', 'ack'])

const shortHash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 8)

function unique(wanted: string, taken: Set<string>): string {
  let name = wanted
  for (let n = 2; taken.has(name); n++) name = `${wanted}_${n}`
  taken.add(name)
  return name
}

export function detectorNames(model: Pick<DetectorModel, 'detectorModelDefinition' | 'inputs'>): DetectorNames {
  const states = model.detectorModelDefinition.states
  const stateKeys: Record<string, string> = {}
  const stateNames: Record<string, string> = {}
  const takenKeys = new Set(states.map((s) => s.stateName).filter((n) => STATE_KEY.test(n)))
  for (const s of states) {
    const key = STATE_KEY.test(s.stateName) ? s.stateName : unique(s.stateName.replace(/[^A-Za-z0-9_-]/g, '_') || 'state', takenKeys)
    stateKeys[s.stateName] = key
    stateNames[key] = s.stateName
  }
  const inputEvents: Record<string, string> = {}
  const eventInputs: Record<string, string> = {}
  const takenEvents = new Set(model.inputs.map((i) => i.inputName).filter((n) => EVENT_NAME.test(n) && !ENGINE_EVENT_NAMES.has(n)))
  for (const input of model.inputs) {
    const ok = EVENT_NAME.test(input.inputName) && !ENGINE_EVENT_NAMES.has(input.inputName)
    const event = ok ? input.inputName : unique(`${input.inputName.slice(0, 50)}-${shortHash(input.inputName)}`, takenEvents)
    inputEvents[input.inputName] = event
    eventInputs[event] = input.inputName
  }
  const counts = new Map<string, number>()
  for (const s of states) for (const t of s.onInput?.transitionEvents ?? []) counts.set(t.eventName, (counts.get(t.eventName) ?? 0) + 1)
  const takenGuards = new Set<string>()
  const guards: Record<string, string[]> = {}
  for (const s of states) {
    guards[s.stateName] = (s.onInput?.transitionEvents ?? []).map((t) => {
      const wanted = counts.get(t.eventName) === 1 ? t.eventName : `${s.stateName}: ${t.eventName}`
      let name = wanted
      for (let n = 2; takenGuards.has(name); n++) name = `${wanted} #${n}`
      takenGuards.add(name)
      return name
    })
  }
  const resetGuards: Record<string, string> = {}
  for (const s of states) resetGuards[s.stateName] = `reset on update, to ${s.stateName}`
  return { stateKeys, stateNames, inputEvents, eventInputs, guards, resetGuards }
}

/**
 * The twin type of a model: `[a-z][a-z0-9-]{0,63}` from its name
 * (`motorDetectorModel` -> `motor-detector-model`,
 * `AWS_IoTEvents_Blueprints_ISA_Alarm` -> `aws-iot-events-blueprints-isa-alarm`).
 */
export function typeNameOf(modelName: string): string {
  const words = modelName
    .replace(/IoT/g, 'Iot')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase())
  let name = words.join('-').replace(/^[^a-z]+/, '')
  if (!name) name = `model-${shortHash(modelName)}`
  if (name.length > 64) name = `${name.slice(0, 55).replace(/-+$/, '')}-${shortHash(modelName)}`
  return name
}
