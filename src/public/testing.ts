/**
 * `twin-engine/testing`: the rule author's test kit. Twins and rules run on
 * virtual time through the engine's own step, without Redis or MQTT.
 */
export { VirtualClock, type Clock } from '../clock.ts'
export { createTwinHarness, TwinHarness, type EmittedEvent } from '../testing/twinHarness.ts'
export { createRuleHarness, RuleHarness, type ConnectedTwin, type IssuedCommand, type SourceSnapshot } from '../testing/ruleHarness.ts'
export { replayLog, compareLog, type LogEvent, type LogOutcome, type LogTwinOutcome, type LogComparison, type ReplayLogOptions } from '../testing/replayLog.ts'
export type { ReplayStep, ReplayCause } from '../core/replay.ts'
export type { TwinDifference, StepSummary, Produced } from '../core/replayDiff.ts'
