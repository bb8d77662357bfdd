--[[
  Records a worker's heartbeat and lists the live workers, on Redis' clock
  (so workers on machines with skewed clocks agree on who is alive).

  Input:
    KEYS[1] workers  zset: worker id -> last heartbeat (ms, Redis time)
    ARGV[1] worker id, or '' to only read (GET /cluster): a reader never
            removes members, whatever its own ttl
    ARGV[2] ttl ms: a worker silent for longer is dead (a heartbeat removes it)

  Output: { now ms, worker id, last heartbeat ms, ... } of the live workers
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local oldest = now - tonumber(ARGV[2])
if ARGV[1] ~= '' then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. oldest)
end
local live = redis.call('ZRANGE', KEYS[1], oldest, '+inf', 'BYSCORE', 'WITHSCORES')
table.insert(live, 1, now)
return live
