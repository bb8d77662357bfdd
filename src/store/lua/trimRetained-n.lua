--[[
  Drops base snapshots of a shard and the retained input only they could
  start from (ADR 0012), in one step: a replay never finds a snapshot whose
  input is gone.

  Input:
    KEYS[1]      retained   stream: the input applied
    KEYS[2]      snapshots  zset:   the shard's snapshots
    KEYS[3..n]   snapshot   hash:   the snapshots to drop
    ARGV[1]      first retained id to keep (XTRIM MINID); '' keeps all, '+' drops all
    ARGV[2..n-1] the zset members of the snapshots to drop, in the order of KEYS[3..n]

  Output:
    the number of retained entries trimmed
]]
for i = 3, #KEYS do
  redis.call('DEL', KEYS[i])
  redis.call('ZREM', KEYS[2], ARGV[i - 1])
end
if ARGV[1] == '+' then
  local n = redis.call('XLEN', KEYS[1])
  redis.call('DEL', KEYS[1])
  return n
end
if ARGV[1] ~= '' then
  return redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
end
return 0
