import { Ajv, type ValidateFunction } from 'ajv'
import type { JsonSchema } from '../model/engineEvents.ts'

export type { JsonSchema }

// One ajv instance for all definitions; `strict` catches typos in schemas
// at load time instead of silently accepting everything.
const ajv = new Ajv({ allErrors: false, strict: true })

export function compileSchema(schema: JsonSchema): ValidateFunction {
  return ajv.compile({ type: 'object', ...schema })
}

export function schemaErrorText(validate: ValidateFunction): string {
  return ajv.errorsText(validate.errors, { dataVar: 'payload' })
}
