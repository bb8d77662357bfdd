--[[
  Replaces a shard's live counts with a full recount (made by the shard's
  owner from every stored twin), fenced by the lease epoch, and marks the
  shard as counted. Used once per shard, when its counts were never kept.

  Input:
    KEYS[1] epoch   string: current lease epoch of the shard
    KEYS[2] counts  hash:   field -> count (store/stateCounts.ts)
    KEYS[3] meta    hash:   counted = 1 once the counts are kept (store/shardMeta.ts)
    ARGV[1] epoch the recounting worker holds
    ARGV[2..] field, count, field, count, …

  Output:
    1  replaced
    0  the epoch is stale: nothing written
]]
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[2])
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[3], 'counted', '1')
return 1
