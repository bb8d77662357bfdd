import { TwinError } from '../../errors.ts'

/**
 * Detector key values <-> twin ids. IoT Events keys are any string value of
 * the key attribute (spaces, slashes, unicode); twin ids are
 * `[A-Za-z0-9._:-]{1,128}`. The mapping is reversible: every character
 * outside `A-Z a-z 0-9 . _ -` (the `:` included, it is the escape) becomes
 * `:` + two hex digits per UTF-8 byte (`Fulton A32` -> `Fulton:20A32`). A
 * value whose id would exceed 128 characters, or an empty one, is refused
 * (TWIN_ERR_INVALID_ID). Numbers and booleans are keyed by their JSON text.
 */
export const NO_KEY_ID = 'detector'

const PLAIN = /[A-Za-z0-9._-]/

export function twinIdOfKey(value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new TwinError('TWIN_ERR_INVALID_ID', `a detector key must be a string or a number, got ${value === null ? 'null' : typeof value}`)
  }
  const text = String(value)
  if (text.length === 0) throw new TwinError('TWIN_ERR_INVALID_ID', 'a detector key value is empty')
  let id = ''
  for (const ch of text) id += PLAIN.test(ch) ? ch : [...Buffer.from(ch, 'utf8')].map((b) => `:${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')
  if (id.length > 128) throw new TwinError('TWIN_ERR_INVALID_ID', `detector key "${text.slice(0, 64)}…" makes a twin id of ${id.length} characters; the limit is 128`)
  return id
}

export function keyOfTwinId(id: string): string {
  const bytes: number[] = []
  for (let i = 0; i < id.length; i++) {
    if (id[i] === ':' && /^[0-9A-Fa-f]{2}$/.test(id.slice(i + 1, i + 3))) {
      bytes.push(parseInt(id.slice(i + 1, i + 3), 16))
      i += 2
    } else {
      bytes.push(...Buffer.from(id[i]!, 'utf8'))
    }
  }
  return Buffer.from(bytes).toString('utf8')
}
