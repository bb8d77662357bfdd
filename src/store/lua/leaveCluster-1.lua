--[[
  Removes a worker from the live set when it stops gracefully, so the others
  take its shards at once instead of after the heartbeat TTL.

  Input:
    KEYS[1] workers  zset: worker id -> last heartbeat
    ARGV[1] worker id

  Output: 1 removed, 0 was not there
]]
return redis.call('ZREM', KEYS[1], ARGV[1])
