/**
 * Fields of a shard's meta hash (keys.ts `meta`), named here and in the
 * headers of the scripts that write them:
 *   cp       last inbox id applied (commitBatch-9.lua writes it with the batch)
 *   relayed  last outbox id the relay has handled (markRelayed-2.lua, only forward)
 */
export const META = {
  checkpoint: 'cp',
  relayed: 'relayed',
} as const
