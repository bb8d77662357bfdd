--[[
  Releases a shard lease if the caller still holds it.

  Input:
    KEYS[1] lease  string: owner worker id
    ARGV[1] worker id

  Output: 1 released, 0 not the owner
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
