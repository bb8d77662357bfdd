/**
 * `twin-engine/define`: what a rule author imports to write twins (`twins/`)
 * and rules (`rules/`). Everything else in `src/` is internal.
 */
export { defineTwin, type EventOutput, type JsonSchema, type TopicInputDeclaration, type TwinDefinition, type TwinDefinitionInput } from '../definitions/defineTwin.ts'
export { defineRule, type RuleDefinition, type RuleDefinitionInput, type RuleFeedEvent, type RuleInput, type RuleSourceTwin } from '../definitions/defineRule.ts'
export { COMMAND_EVENT, DEFAULT_COMMAND_TIMEOUT_MS, sendCommand, type CommandEmit, type CommandRequest } from '../definitions/commands.ts'
