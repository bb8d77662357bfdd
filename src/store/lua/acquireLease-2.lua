--[[
  Takes or renews a shard lease.

  Input:
    KEYS[1] lease  string: owner worker id, with TTL
    KEYS[2] epoch  string: lease epoch
    ARGV[1] worker id
    ARGV[2] ttl ms

  Output:
    epoch (number) when the caller holds the lease now; a new acquisition
    increments the epoch, a renewal keeps it.
    -1 when another worker holds it.
]]
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
if owner then
  return -1
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
