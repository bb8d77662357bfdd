--[[
  Commits one processed batch of a shard atomically, fenced by the lease epoch.

  Input:
    KEYS[1] epoch       string: current lease epoch of the shard
    KEYS[2] twins       hash:   twin key -> record JSON
    KEYS[3] index       zset:   twin keys (score 0)
    KEYS[4] timers      zset:   'key|timerId' -> due ms
    KEYS[5] outbox      stream: derived events
    KEYS[6] dead        stream: dead letters
    KEYS[7] deadCounts  hash:   reason code -> count
    KEYS[8] meta        hash:   cp (checkpoint)
    KEYS[9] inbox       stream: the shard inbox (trimmed up to the checkpoint)

    ARGV[1] epoch the committing worker holds
    ARGV[2] checkpoint: last inbox id applied by this batch, '' when none
    ARGV[3] dead-letter max length (approximate trim)
    (the outbox is not trimmed here: the relay trims it once it has relayed it)
    then five counted sections, each a count followed by its items:
      records   n, then n x (key, json)
      new keys  n, then n x key                       (added to the index)
      timer del n, then n x member                    (applied before adds)
      timer add n, then n x (due, member)
      outbox    n, then n x (id, key, name, dataJson, at, to)   (to: '' or the target of a routed entry)
      dead      n, then n x (code, reason, twin, event, payload)

  Output:
    { 1, nextTimerDue or -1 }   committed
    { 0, currentEpoch }         refused: the epoch is stale, nothing written
]]
local current = redis.call('GET', KEYS[1])
if current ~= ARGV[1] then
  return { 0, current or '' }
end

local i = 4
local function count()
  local n = tonumber(ARGV[i])
  i = i + 1
  return n
end

-- records
local n = count()
for _ = 1, n do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end

-- new keys
n = count()
for _ = 1, n do
  redis.call('ZADD', KEYS[3], 0, ARGV[i])
  i = i + 1
end

-- timers: removals first, so a timer re-armed in the same batch survives
n = count()
for _ = 1, n do
  redis.call('ZREM', KEYS[4], ARGV[i])
  i = i + 1
end
n = count()
for _ = 1, n do
  redis.call('ZADD', KEYS[4], ARGV[i], ARGV[i + 1])
  i = i + 2
end

-- outbox
n = count()
for _ = 1, n do
  if ARGV[i + 5] == '' then
    redis.call('XADD', KEYS[5], '*', 'id', ARGV[i], 'k', ARGV[i + 1], 'n', ARGV[i + 2], 'd', ARGV[i + 3], 'at', ARGV[i + 4])
  else
    redis.call('XADD', KEYS[5], '*', 'id', ARGV[i], 'k', ARGV[i + 1], 'n', ARGV[i + 2], 'd', ARGV[i + 3], 'at', ARGV[i + 4], 'to', ARGV[i + 5])
  end
  i = i + 6
end

-- dead letters
n = count()
for _ = 1, n do
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[3], '*',
    'code', ARGV[i], 'reason', ARGV[i + 1], 'twin', ARGV[i + 2], 'event', ARGV[i + 3], 'payload', ARGV[i + 4], 'src', 'worker')
  redis.call('HINCRBY', KEYS[7], ARGV[i], 1)
  i = i + 5
end

if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[8], 'cp', ARGV[2])
  redis.call('XTRIM', KEYS[9], 'MINID', ARGV[2])
end

local nextTimer = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
if nextTimer[2] then
  return { 1, tonumber(nextTimer[2]) }
end
return { 1, -1 }
