/**
 * An AWS IoT Events detector model normalised to the CreateDetectorModel
 * request (camelCase, SEMANTICS.md §2), plus the inputs it reads. Every import
 * shape (Update body, Describe output, console export, CloudFormation JSON or
 * YAML) becomes this; a generated twin carries it verbatim, so a user can diff
 * it against their export.
 */
export interface DetectorModel {
  detectorModelName: string
  detectorModelDescription?: string
  /** payload path of the detector key; none = one detector for the model */
  key?: string
  evaluationMethod: 'BATCH' | 'SERIAL'
  detectorModelDefinition: { initialStateName: string; states: State[] }
  /** the inputs the model reads, with their declared attributes (jsonPath) */
  inputs: InputDefinition[]
}

export interface InputDefinition {
  inputName: string
  /** declared attribute paths (`sensorData.pressure`, `` `a b`.c ``); only these are visible to expressions (D3) */
  attributes: string[]
}

export interface State {
  stateName: string
  onEnter?: { events: Event[] }
  onInput?: { events?: Event[]; transitionEvents?: TransitionEvent[] }
  onExit?: { events: Event[] }
}

export interface Event {
  eventName: string
  /** absent = true */
  condition?: string
  actions?: Action[]
}

export interface TransitionEvent {
  eventName: string
  condition: string
  actions?: Action[]
  nextState: string
}

export interface Payload {
  contentExpression: string
  type: 'JSON' | 'STRING'
}

/** Exactly one key per action (D). */
export type Action =
  | { setVariable: { variableName: string; value: string } }
  | { setTimer: { timerName: string; seconds?: number; durationExpression?: string } }
  | { resetTimer: { timerName: string } }
  | { clearTimer: { timerName: string } }
  | { iotTopicPublish: { mqttTopic: string; payload?: Payload } }
  | { iotEvents: { inputName: string; payload?: Payload } }
  | { lambda: { functionArn: string; payload?: Payload } }
  | { sns: { targetArn: string; payload?: Payload } }
  | { sqs: { queueUrl: string; useBase64?: boolean; payload?: Payload } }
  | { firehose: { deliveryStreamName: string; separator?: string; payload?: Payload } }
  | { dynamoDB: DynamoDbAction }
  | { dynamoDBv2: { tableName: string; payload?: Payload } }
  | { iotSiteWise: SiteWiseAction }

export interface DynamoDbAction {
  tableName: string
  hashKeyField: string
  hashKeyValue: string
  hashKeyType?: string
  rangeKeyField?: string
  rangeKeyValue?: string
  rangeKeyType?: string
  operation?: string
  payloadField?: string
  payload?: Payload
}

export interface SiteWiseAction {
  entryId?: string
  assetId?: string
  propertyId?: string
  propertyAlias?: string
  propertyValue: {
    value: { stringValue?: string; integerValue?: string; doubleValue?: string; booleanValue?: string }
    timestamp?: { timeInSeconds: string; offsetInNanos?: string }
    quality?: string
  }
}

export const ACTION_KINDS = [
  'setVariable',
  'setTimer',
  'resetTimer',
  'clearTimer',
  'iotTopicPublish',
  'iotEvents',
  'lambda',
  'sns',
  'sqs',
  'firehose',
  'dynamoDB',
  'dynamoDBv2',
  'iotSiteWise',
] as const

export type ActionKind = (typeof ACTION_KINDS)[number]

/** The actions that leave the detector: each becomes a derived event of this name. */
export const EFFECT_KINDS = ['iotTopicPublish', 'iotEvents', 'lambda', 'sns', 'sqs', 'firehose', 'dynamoDB', 'dynamoDBv2', 'iotSiteWise'] as const
export type EffectKind = (typeof EFFECT_KINDS)[number]

export const actionKind = (action: Action): ActionKind => Object.keys(action)[0] as ActionKind

/** setTimer bounds (D): 1..31622400 s (a year); under 60 s AWS warned the timer is not accurate. */
export const TIMER_MIN_SECONDS = 1
export const TIMER_ACCURATE_SECONDS = 60
export const TIMER_MAX_SECONDS = 31_622_400

/** `mqttTopic` is an expression when quoted or when it references something (SEMANTICS.md §9.4); else a literal. */
export function topicIsExpression(topic: string): boolean {
  const t = topic.trim()
  return t.startsWith("'") || t.startsWith('"') || t.includes('$input.') || t.includes('$variable.') || t.includes('${')
}

export function formatJsonPath(segments: readonly string[]): string {
  return segments.map((s) => (/^[\w-]+$/.test(s) ? s : `\`${s}\``)).join('.')
}
