import { expect } from 'vitest'
import { TwinError } from '../../src/errors.ts'

/** The TwinError a call throws (fails the test if it throws nothing or something else). */
export function thrown(fn: () => unknown): TwinError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(TwinError)
    return err as TwinError
  }
  throw new Error('expected a TwinError, nothing was thrown')
}
