--[[
  Records a worker's heartbeat and lists the live workers, on Redis' clock
  (so workers on machines with skewed clocks agree on who is alive).

  Input:
    KEYS[1] workers  zset: worker id -> last heartbeat (ms, Redis time)
    ARGV[1] worker id ('' to only read)
    ARGV[2] ttl ms: a worker silent for longer is dead, and removed

  Output: { now ms, worker id, last heartbeat ms, ... } of the live workers
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[1] ~= '' then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
local live = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
table.insert(live, 1, now)
return live
