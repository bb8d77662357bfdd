/**
 * Detector key values <-> twin ids: the engine's reversible key mapping
 * (src/model/keyIds.ts, ADR 0021), which ingest applies to the key path of
 * every input message. A model without a key is one twin, id `detector`.
 */
export { keyOfTwinId, twinIdOfKey } from '../../model/keyIds.ts'

export const NO_KEY_ID = 'detector'
