import { createHash } from 'node:crypto'

/** SHA-256 of a secret (API tokens, device passwords): only hashes are kept in memory and compared. */
export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest()
}
