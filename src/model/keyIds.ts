import { TwinError } from '../errors.ts'

/**
 * Key values read from a message payload <-> twin ids, reversibly (ADR 0021).
 * A key is any string, number or boolean in a payload (spaces, slashes,
 * unicode); a twin id is `[A-Za-z0-9._:-]{1,128}`. Every character outside
 * `A-Z a-z 0-9 . _ -` (the `:` included: it is the escape) becomes `:` + two
 * hex digits per UTF-8 byte (`Fulton A32` -> `Fulton:20A32`), so two keys
 * never share an id. Numbers and booleans are keyed by their text (`7`,
 * `true`). Refused with TWIN_ERR_INVALID_ID: an empty key, a key whose id
 * would pass 128 characters, and null, objects and arrays.
 */

const PLAIN = /[A-Za-z0-9._-]/

export function twinIdOfKey(value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value
    throw new TwinError('TWIN_ERR_INVALID_ID', `a key must be a string, a number or a boolean, got ${got}`)
  }
  const text = String(value)
  if (text.length === 0) throw new TwinError('TWIN_ERR_INVALID_ID', 'the key value is empty')
  let id = ''
  for (const ch of text) id += PLAIN.test(ch) ? ch : [...Buffer.from(ch, 'utf8')].map((b) => `:${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')
  if (id.length > 128) throw new TwinError('TWIN_ERR_INVALID_ID', `key "${text.slice(0, 64)}…" makes a twin id of ${id.length} characters; the limit is 128`)
  return id
}

/** The key value a twin id was made from (the inverse of twinIdOfKey). */
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
