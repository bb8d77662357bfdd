import { parse as parseYaml, type Tags } from 'yaml'
import { ImportFailure } from './issues.ts'

/**
 * Reads a model or input file as a JSON value: JSON, or YAML (CloudFormation
 * templates are often YAML) with CloudFormation's short tags (`!Ref x`,
 * `!Join [..]`, `!Sub`, `!GetAtt a.b`, …) read as their long forms
 * (`{"Ref": "x"}`, `{"Fn::Join": [..]}`), so one resolver handles both.
 */
export function parseSource(file: string, text: string): unknown {
  const trimmed = text.replace(/^\uFEFF/, '').trimStart()
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return JSON.parse(trimmed)
    } catch (err) {
      throw new ImportFailure(file, '$', `is not valid JSON: ${(err as Error).message}`, 'fix the JSON (or save the file as YAML)')
    }
  }
  try {
    return parseYaml(trimmed, { customTags: CLOUDFORMATION_TAGS, uniqueKeys: true, prettyErrors: true })
  } catch (err) {
    throw new ImportFailure(file, '$', `is neither JSON nor valid YAML: ${(err as Error).message.split('\n')[0]}`, 'export the model as JSON, or fix the YAML')
  }
}

const FUNCTIONS = ['Join', 'Sub', 'GetAtt', 'If', 'Select', 'Split', 'Equals', 'FindInMap', 'Base64', 'Cidr', 'GetAZs', 'ImportValue', 'Not', 'And', 'Or', 'Transform', 'ToJsonString', 'Length']

const CLOUDFORMATION_TAGS: Tags = [
  { tag: '!Ref', resolve: (value: string) => ({ Ref: value }) },
  { tag: '!Condition', resolve: (value: string) => ({ Condition: value }) },
  ...FUNCTIONS.flatMap((name) => [
    { tag: `!${name}`, resolve: (value: string) => ({ [`Fn::${name}`]: name === 'GetAtt' ? value.split('.') : value }) },
    { tag: `!${name}`, collection: 'seq' as const, resolve: (seq: { toJSON(): unknown }) => ({ [`Fn::${name}`]: seq.toJSON() }) },
    { tag: `!${name}`, collection: 'map' as const, resolve: (map: { toJSON(): unknown }) => ({ [`Fn::${name}`]: map.toJSON() }) },
  ]),
] as Tags
