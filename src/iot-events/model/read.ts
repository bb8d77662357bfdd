import { basename, extname } from 'node:path'
import { parseKeyPath } from '../../definitions/topicInputs.ts'
import { cloudFormationResources, pascalSegment } from './cloudformation.ts'
import { ImportFailure, type Issue } from './issues.ts'
import { ACTION_KINDS, TIMER_MAX_SECONDS, TIMER_MIN_SECONDS, type Action, type DetectorModel, type Event, type InputDefinition, type Payload, type State, type TransitionEvent } from './types.ts'

/** A model read from a file, before its inputs are known. */
export interface ReadModel {
  model: Omit<DetectorModel, 'inputs'>
  file: string
  /** the JSON path of the model object in the file */
  base: string
  /** CloudFormation: paths print PascalCase */
  pascal: boolean
  /** true when the file gave no detectorModelName and it was made from the file name */
  unnamed: boolean
}

export interface ReadResult {
  models: ReadModel[]
  inputs: InputDefinition[]
  warnings: Issue[]
}

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => !!v && typeof v === 'object' && !Array.isArray(v)

/**
 * Reads every detector model and input in one parsed file, whatever its shape
 * (SEMANTICS.md §2): CreateDetectorModel request, UpdateDetectorModel body,
 * DescribeDetectorModel output / console export (`schemaVersion`),
 * CloudFormation template or resource, CreateInput request or DescribeInput
 * output. Throws ImportFailure naming the path and what to change.
 */
export function readFile(file: string, doc: unknown): ReadResult {
  const warnings: Issue[] = []
  const models: ReadModel[] = []
  const inputs: InputDefinition[] = []
  if (!isObj(doc)) throw new ImportFailure(file, '$', 'is not a JSON object', 'give a detector model (CreateDetectorModel request, DescribeDetectorModel output, console export or CloudFormation template)')
  if ('Resources' in doc || doc.Type === 'AWS::IoTEvents::DetectorModel' || doc.Type === 'AWS::IoTEvents::Input') {
    for (const r of cloudFormationResources(file, doc, warnings)) {
      if (r.type === 'AWS::IoTEvents::Input') inputs.push(readInput(file, r.properties, r.base, true, r.logicalId))
      else models.push(readModel(file, r.properties, r.base, true, r.logicalId))
    }
    if (models.length === 0 && inputs.length === 0) {
      throw new ImportFailure(file, '$.Resources', 'has no AWS::IoTEvents::DetectorModel or AWS::IoTEvents::Input resource', 'import the template that defines the detector model')
    }
  } else if (isObj(doc.detectorModel)) {
    const dm = doc.detectorModel
    const config = isObj(dm.detectorModelConfiguration) ? dm.detectorModelConfiguration : {}
    models.push(readModel(file, { ...config, detectorModelDefinition: dm.detectorModelDefinition }, '$.detectorModel', false))
  } else if ('detectorModelDefinition' in doc) {
    models.push(readModel(file, doc, '$', false))
  } else if ('inputDefinition' in doc || isObj(doc.input)) {
    const input = isObj(doc.input) ? { ...(isObj(doc.input.inputConfiguration) ? doc.input.inputConfiguration : {}), inputDefinition: doc.input.inputDefinition } : doc
    inputs.push(readInput(file, input, isObj(doc.input) ? '$.input' : '$', false))
  } else {
    throw new ImportFailure(file, '$', 'is not a detector model or an input', 'give a CreateDetectorModel request, a DescribeDetectorModel output (console export), a CloudFormation template, or a CreateInput request')
  }
  return { models, inputs, warnings }
}

class At {
  constructor(
    readonly file: string,
    private readonly base: string,
    private readonly pascal: boolean,
    private readonly segments: Array<string | number> = [],
  ) {}

  get path(): string {
    let out = this.base
    for (const s of this.segments) out += typeof s === 'number' ? `[${s}]` : `.${this.pascal ? pascalSegment(s) : s}`
    return out
  }

  to(...segments: Array<string | number>): At {
    return new At(this.file, this.base, this.pascal, [...this.segments, ...segments])
  }

  err(problem: string, fix: string): ImportFailure {
    return new ImportFailure(this.file, this.path, problem, fix)
  }

  fail(problem: string, fix: string): never {
    throw this.err(problem, fix)
  }

  string(v: unknown, field: string, fix = `set ${field}`): string {
    if (typeof v !== 'string' || v.length === 0) throw this.to(field).err(v === undefined ? 'is missing' : 'must be a non-empty string', fix)
    return v
  }
}

function readModel(file: string, raw: Obj, base: string, pascal: boolean, logicalId?: string): ReadModel {
  const at = new At(file, base, pascal)
  const def = raw.detectorModelDefinition
  if (!isObj(def)) throw at.to('detectorModelDefinition').err('is missing or not an object', 'give the detector model definition ({ initialStateName, states })')
  const name = typeof raw.detectorModelName === 'string' && raw.detectorModelName ? raw.detectorModelName : null
  const fallback = logicalId ?? basename(file, extname(file)).replace(/\.(transcribed|json)$/, '')
  const model: Omit<DetectorModel, 'inputs'> = {
    detectorModelName: name ?? fallback,
    evaluationMethod: readEvaluation(at, raw.evaluationMethod),
    detectorModelDefinition: readDefinition(at.to('detectorModelDefinition'), def),
  }
  if (typeof raw.detectorModelDescription === 'string' && raw.detectorModelDescription) model.detectorModelDescription = raw.detectorModelDescription
  if (raw.key !== undefined && raw.key !== null) {
    const key = at.string(raw.key, 'key')
    if (key.length > 128 || !parseKeyPath(key)) throw at.to('key').err(`"${key}" is not a payload path`, 'use dot-separated names, backticks around names with spaces (e.g. motorid or `device id`.serial)')
    model.key = key
  }
  return { model, file, base, pascal, unnamed: name === null }
}

function readEvaluation(at: At, v: unknown): 'BATCH' | 'SERIAL' {
  if (v === undefined || v === null) return 'BATCH'
  if (v === 'BATCH' || v === 'SERIAL') return v
  return at.to('evaluationMethod').fail(`is ${JSON.stringify(v)}`, 'use BATCH (the default) or SERIAL')
}

function readDefinition(at: At, def: Obj): DetectorModel['detectorModelDefinition'] {
  const initial = at.string(def.initialStateName, 'initialStateName')
  if (!Array.isArray(def.states) || def.states.length === 0) throw at.to('states').err('is missing or empty', 'give at least one state')
  const states = (def.states as unknown[]).map((s, i) => readState(at.to('states', i), s))
  const names = new Set<string>()
  for (const [i, s] of states.entries()) {
    if (names.has(s.stateName)) throw at.to('states', i, 'stateName').err(`"${s.stateName}" is the name of another state too`, 'give every state its own name')
    names.add(s.stateName)
  }
  if (!names.has(initial)) throw at.to('initialStateName').err(`"${initial}" is not a state of the model`, `use one of ${[...names].join(', ')}`)
  for (const [i, s] of states.entries()) {
    for (const [j, t] of (s.onInput?.transitionEvents ?? []).entries()) {
      if (!names.has(t.nextState)) throw at.to('states', i, 'onInput', 'transitionEvents', j, 'nextState').err(`"${t.nextState}" is not a state of the model`, `use one of ${[...names].join(', ')}`)
    }
  }
  return { initialStateName: initial, states }
}

function readState(at: At, raw: unknown): State {
  if (!isObj(raw)) throw at.err('is not an object', 'give { stateName, onEnter?, onInput?, onExit? }')
  const stateName = at.string(raw.stateName, 'stateName')
  if (stateName.length > 128) throw at.to('stateName').err('is longer than 128 characters', 'shorten it')
  const state: State = { stateName }
  for (const group of ['onEnter', 'onExit'] as const) {
    const g = raw[group]
    if (g === undefined || g === null) continue
    if (!isObj(g)) throw at.to(group).err('is not an object', 'give { events: [...] }')
    state[group] = { events: readList(at.to(group, 'events'), g.events, readEvent) }
  }
  const onInput = raw.onInput
  if (onInput !== undefined && onInput !== null) {
    if (!isObj(onInput)) throw at.to('onInput').err('is not an object', 'give { events: [...], transitionEvents: [...] }')
    state.onInput = {
      events: readList(at.to('onInput', 'events'), onInput.events, readEvent),
      transitionEvents: readList(at.to('onInput', 'transitionEvents'), onInput.transitionEvents, readTransition),
    }
  }
  return state
}

function readList<T>(at: At, raw: unknown, read: (at: At, item: unknown) => T): T[] {
  if (raw === undefined || raw === null) return []
  if (!Array.isArray(raw)) throw at.err('is not a list', 'give a list')
  return raw.map((item, i) => read(at.to(i), item))
}

function readEvent(at: At, raw: unknown): Event {
  if (!isObj(raw)) throw at.err('is not an object', 'give { eventName, condition?, actions? }')
  const event: Event = { eventName: at.string(raw.eventName, 'eventName') }
  if (raw.condition !== undefined && raw.condition !== null) event.condition = readCondition(at, raw.condition)
  const actions = readList(at.to('actions'), raw.actions, readAction)
  if (actions.length) event.actions = actions
  return event
}

function readTransition(at: At, raw: unknown): TransitionEvent {
  if (!isObj(raw)) throw at.err('is not an object', 'give { eventName, condition, actions?, nextState }')
  const event: TransitionEvent = {
    eventName: at.string(raw.eventName, 'eventName'),
    condition: raw.condition === undefined ? at.to('condition').fail('is missing (a transition event requires a condition)', 'add a condition, e.g. "true"') : readCondition(at, raw.condition),
    nextState: at.string(raw.nextState, 'nextState'),
  }
  const actions = readList(at.to('actions'), raw.actions, readAction)
  if (actions.length) event.actions = actions
  return event
}

function readCondition(at: At, raw: unknown): string {
  const condition = at.string(raw, 'condition', 'give the condition as an expression string')
  if (condition.length > 512) throw at.to('condition').err(`is ${condition.length} characters; AWS allowed 512`, 'shorten the condition (move parts into variables)')
  return condition
}

const VARIABLE_NAME = /^[a-zA-Z][a-zA-Z0-9_]*$/

function readAction(at: At, raw: unknown): Action {
  if (!isObj(raw)) throw at.err('is not an object', 'give one action, e.g. { "setVariable": {...} }')
  const keys = Object.keys(raw).filter((k) => raw[k] !== undefined && raw[k] !== null)
  if (keys.length !== 1) throw at.err(keys.length ? `has ${keys.length} actions (${keys.join(', ')})` : 'has no action', 'put exactly one action in each element of the actions list')
  const kind = keys[0]!
  if (!(ACTION_KINDS as readonly string[]).includes(kind)) throw at.to(kind).err(`"${kind}" is not an IoT Events action`, `use one of ${ACTION_KINDS.join(', ')}`)
  const body = raw[kind]
  const a = at.to(kind)
  if (!isObj(body)) throw a.err('is not an object', `give the ${kind} fields`)
  const payload = (): { payload?: Payload } => (body.payload === undefined || body.payload === null ? {} : { payload: readPayload(a.to('payload'), body.payload) })
  switch (kind) {
    case 'setVariable': {
      const variableName = a.string(body.variableName, 'variableName')
      if (!VARIABLE_NAME.test(variableName) || variableName.length > 128) throw a.to('variableName').err(`"${variableName}" is not a variable name`, 'use [a-zA-Z][a-zA-Z0-9_]*, at most 128 characters')
      const value = a.string(body.value, 'value', 'give the value as an expression (AWS refused a setVariable without one)')
      if (value.length > 1024) throw a.to('value').err(`is ${value.length} characters; AWS allowed 1024`, 'shorten it')
      return { setVariable: { variableName, value } }
    }
    case 'setTimer': {
      const timerName = timer(a, body.timerName)
      const hasSeconds = body.seconds !== undefined && body.seconds !== null
      const hasExpr = body.durationExpression !== undefined && body.durationExpression !== null
      if (hasSeconds === hasExpr) throw a.err(hasSeconds ? 'has both seconds and durationExpression' : 'has neither seconds nor durationExpression', 'give one of them')
      if (hasExpr) return { setTimer: { timerName, durationExpression: a.string(body.durationExpression, 'durationExpression') } }
      const seconds = typeof body.seconds === 'string' && /^[0-9]+$/.test(body.seconds) ? Number(body.seconds) : body.seconds
      if (!Number.isInteger(seconds) || (seconds as number) < TIMER_MIN_SECONDS || (seconds as number) > TIMER_MAX_SECONDS) {
        throw a.to('seconds').err(`is ${JSON.stringify(body.seconds)}`, `use a whole number of seconds from ${TIMER_MIN_SECONDS} to ${TIMER_MAX_SECONDS}`)
      }
      return { setTimer: { timerName, seconds: seconds as number } }
    }
    case 'resetTimer':
    case 'clearTimer':
      return { [kind]: { timerName: timer(a, body.timerName) } } as Action
    case 'iotTopicPublish': {
      const mqttTopic = a.string(body.mqttTopic, 'mqttTopic')
      if (mqttTopic.length > 128) throw a.to('mqttTopic').err('is longer than 128 characters', 'shorten it')
      return { iotTopicPublish: { mqttTopic, ...payload() } }
    }
    case 'iotEvents': {
      const inputName = a.string(body.inputName, 'inputName')
      if (!VARIABLE_NAME.test(inputName)) throw a.to('inputName').err(`"${inputName}" is not an input name`, 'use [a-zA-Z][a-zA-Z0-9_]*')
      return { iotEvents: { inputName, ...payload() } }
    }
    case 'lambda':
      return { lambda: { functionArn: a.string(body.functionArn, 'functionArn'), ...payload() } }
    case 'sns':
      return { sns: { targetArn: a.string(body.targetArn, 'targetArn'), ...payload() } }
    case 'sqs':
      return { sqs: { queueUrl: a.string(body.queueUrl, 'queueUrl'), ...(typeof body.useBase64 === 'boolean' ? { useBase64: body.useBase64 } : {}), ...payload() } }
    case 'firehose': {
      const separator = body.separator
      if (separator !== undefined && !['\n', '\t', '\r\n', ','].includes(separator as string)) throw a.to('separator').err(`is ${JSON.stringify(separator)}`, 'use "\\n", "\\t", "\\r\\n" or ","')
      return { firehose: { deliveryStreamName: a.string(body.deliveryStreamName, 'deliveryStreamName'), ...(typeof separator === 'string' ? { separator } : {}), ...payload() } }
    }
    case 'dynamoDB': {
      const out: Record<string, unknown> = { tableName: a.string(body.tableName, 'tableName'), hashKeyField: a.string(body.hashKeyField, 'hashKeyField'), hashKeyValue: a.string(body.hashKeyValue, 'hashKeyValue') }
      for (const f of ['hashKeyType', 'rangeKeyField', 'rangeKeyValue', 'rangeKeyType', 'operation', 'payloadField'] as const) if (body[f] !== undefined && body[f] !== null) out[f] = a.string(body[f], f)
      return { dynamoDB: { ...(out as { tableName: string; hashKeyField: string; hashKeyValue: string }), ...payload() } }
    }
    case 'dynamoDBv2':
      return { dynamoDBv2: { tableName: a.string(body.tableName, 'tableName'), ...payload() } }
    case 'iotSiteWise':
      return { iotSiteWise: readSiteWise(a, body) }
  }
  return a.fail('is not supported', 'remove it')
}

function timer(at: At, v: unknown): string {
  const name = at.string(v, 'timerName')
  if (name.length > 128) throw at.to('timerName').err('is longer than 128 characters', 'shorten it')
  return name
}

function readPayload(at: At, raw: unknown): Payload {
  if (!isObj(raw)) throw at.err('is not an object', 'give { contentExpression, type }')
  const contentExpression = at.string(raw.contentExpression, 'contentExpression')
  if (raw.type !== 'JSON' && raw.type !== 'STRING') throw at.to('type').err(`is ${JSON.stringify(raw.type)}`, 'use JSON or STRING')
  return { contentExpression, type: raw.type }
}

function readSiteWise(at: At, body: Obj): Extract<Action, { iotSiteWise: unknown }>['iotSiteWise'] {
  const strings = (o: unknown, base: At, fields: readonly string[]): Record<string, string> => {
    const out: Record<string, string> = {}
    if (!isObj(o)) return out
    for (const f of fields) if (o[f] !== undefined && o[f] !== null) out[f] = base.string(o[f], f)
    return out
  }
  const pv = body.propertyValue
  if (!isObj(pv) || !isObj(pv.value)) throw at.to('propertyValue', 'value').err('is missing', 'give the value as { stringValue | integerValue | doubleValue | booleanValue }')
  const value = strings(pv.value, at.to('propertyValue', 'value'), ['stringValue', 'integerValue', 'doubleValue', 'booleanValue'])
  if (Object.keys(value).length !== 1) throw at.to('propertyValue', 'value').err('must have exactly one of stringValue, integerValue, doubleValue, booleanValue', 'keep one')
  const out: Extract<Action, { iotSiteWise: unknown }>['iotSiteWise'] = { ...strings(body, at, ['entryId', 'assetId', 'propertyId', 'propertyAlias']), propertyValue: { value } }
  if (!out.propertyAlias && !(out.assetId && out.propertyId)) throw at.err('names no property', 'give propertyAlias, or assetId and propertyId')
  if (isObj(pv.timestamp)) {
    const ts = strings(pv.timestamp, at.to('propertyValue', 'timestamp'), ['timeInSeconds', 'offsetInNanos'])
    if (!ts.timeInSeconds) throw at.to('propertyValue', 'timestamp', 'timeInSeconds').err('is missing', 'give it (an expression)')
    out.propertyValue.timestamp = ts as { timeInSeconds: string; offsetInNanos?: string }
  }
  if (pv.quality !== undefined && pv.quality !== null) out.propertyValue.quality = at.to('propertyValue').string(pv.quality, 'quality')
  return out
}

function readInput(file: string, raw: Obj, base: string, pascal: boolean, logicalId?: string): InputDefinition {
  const at = new At(file, base, pascal)
  const inputName = raw.inputName === undefined && logicalId ? logicalId : at.string(raw.inputName, 'inputName')
  if (!VARIABLE_NAME.test(inputName) || inputName.length > 128) throw at.to('inputName').err(`"${inputName}" is not an input name`, 'use [a-zA-Z][a-zA-Z0-9_]*, at most 128 characters')
  const def = raw.inputDefinition
  if (!isObj(def) || !Array.isArray(def.attributes)) throw at.to('inputDefinition', 'attributes').err('is missing', 'give { attributes: [{ jsonPath }] }')
  const attributes = (def.attributes as unknown[]).map((a, i) => {
    const ai = at.to('inputDefinition', 'attributes', i)
    const path = ai.string(isObj(a) ? a.jsonPath : undefined, 'jsonPath')
    if (path.length > 128 || !parseKeyPath(path)) throw ai.to('jsonPath').err(`"${path}" is not a payload path`, 'use dot-separated names, backticks around names with spaces')
    return path
  })
  return { inputName, attributes }
}
