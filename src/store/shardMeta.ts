/**
 * Fields of a shard's meta hash (keys.ts `meta`), named here and in the
 * headers of the scripts that write them:
 *   cp       last inbox id applied (commitShards-n.lua writes it with the batch)
 *   relayed  last outbox id the relay has handled (markRelayed-2.lua, only forward)
 *   counted  1 once the shard's live counts are kept (replaceCounts-3.lua)
 *   rt       input retention on (ADR 0012): its generation, the time (ms) retention
 *            last started; set by the owner (store/retention.ts), while set the
 *            commit leaves applied input in the inbox for moveApplied-3.lua
 *   rl       last inbox id moved to the retained stream (moveApplied-3.lua)
 */
export const META = {
  checkpoint: 'cp',
  relayed: 'relayed',
  counted: 'counted',
  retention: 'rt',
  retainedLast: 'rl',
} as const
