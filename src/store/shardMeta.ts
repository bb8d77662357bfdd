/**
 * Fields of a shard's meta hash (keys.ts `meta`), named here and in the
 * headers of the scripts that write them:
 *   cp       last inbox id applied (commitShards-n.lua writes it with the batch)
 *   relayed  last outbox id the relay has handled (markRelayed-2.lua, only forward)
 *   counted  1 once the shard's live counts are kept (replaceCounts-3.lua)
 */
export const META = {
  checkpoint: 'cp',
  relayed: 'relayed',
  counted: 'counted',
} as const
