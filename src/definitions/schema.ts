import { Ajv, type ValidateFunction } from 'ajv'

/** A JSON Schema (draft-07 / 2019-09 subset that ajv accepts) for an event payload. */
export type JsonSchema = Record<string, unknown>

// One ajv instance for all definitions; `strict` catches typos in schemas
// at load time instead of silently accepting everything.
const ajv = new Ajv({ allErrors: false, strict: true })

export function compileSchema(schema: JsonSchema): ValidateFunction {
  return ajv.compile({ type: 'object', ...schema })
}

export function schemaErrorText(validate: ValidateFunction): string {
  return ajv.errorsText(validate.errors, { dataVar: 'payload' })
}
