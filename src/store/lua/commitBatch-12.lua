--[[
  Commits one processed batch of a shard atomically, fenced by the lease epoch.

  Input:
    KEYS[1] epoch       string: current lease epoch of the shard
    KEYS[2] twins       hash:   twin key -> encoded record (store/twinRecords.ts)
    KEYS[3] index       zset:   twin keys (score 0)
    KEYS[4] timers      zset:   'key|timerId' -> due ms
    KEYS[5] outbox      stream: derived events, rule feeds, commands
    KEYS[6] dead        stream: dead letters
    KEYS[7] deadCounts  hash:   reason code -> count
    KEYS[8] meta        hash:   cp (checkpoint; store/shardMeta.ts); rt (input retention on)
    KEYS[9] inbox       stream: the shard inbox (trimmed up to the checkpoint, unless rt is set)
    KEYS[10] counts     hash:   live count per type, state, tag and indicator (store/stateCounts.ts)
    KEYS[11] held       stream: input held for twins stored by a newer definition version
    KEYS[12] heldKeys   hash:   twin key -> version, of the twins whose input is held

    ARGV[1] epoch the committing worker holds
    ARGV[2] checkpoint: last inbox id applied by this batch, '' when none
    ARGV[3] dead-letter max length (approximate trim)
    (the outbox is not trimmed here: the relay trims it once it has relayed it)
    then eleven counted sections, each a count followed by its items:
      records   n, then n x (key, encoded record)
      new keys  n, then n x key                       (added to the index)
      timer del n, then n x member                    (applied before adds)
      timer add n, then n x (due, member)
      outbox    n, then n x (m, then m field-value pairs)         (appended as given)
      dead      n, then n x (code, m, then m field-value pairs)   (appended, code counted)
      counts    n, then n x (field, delta)                         (HINCRBY)
      held      n, then n x (m, then m field-value pairs)          (appended to the held stream)
      held keys n, then n x (key, version)                         (HSET)
      unheld    n, then n x key                                     (HDEL)
      held done n, then n x held-stream id                          (XDEL: applied)
    Stream entry fields are encoded by store/outboxStream.ts and
    store/deadLetters.ts, held entries by store/inboxStream.ts, count fields
    by store/stateCounts.ts; the whole argument list by store/commitBatch.ts.

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
  local m = tonumber(ARGV[i])
  redis.call('XADD', KEYS[5], '*', unpack(ARGV, i + 1, i + 2 * m))
  i = i + 1 + 2 * m
end

-- dead letters
n = count()
for _ = 1, n do
  local code = ARGV[i]
  local m = tonumber(ARGV[i + 1])
  redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[3], '*', unpack(ARGV, i + 2, i + 1 + 2 * m))
  redis.call('HINCRBY', KEYS[7], code, 1)
  i = i + 2 + 2 * m
end

-- live counts
n = count()
for _ = 1, n do
  redis.call('HINCRBY', KEYS[10], ARGV[i], ARGV[i + 1])
  i = i + 2
end

-- held input (rolling upgrades)
n = count()
for _ = 1, n do
  local m = tonumber(ARGV[i])
  redis.call('XADD', KEYS[11], '*', unpack(ARGV, i + 1, i + 2 * m))
  i = i + 1 + 2 * m
end
n = count()
for _ = 1, n do
  redis.call('HSET', KEYS[12], ARGV[i], ARGV[i + 1])
  i = i + 2
end
n = count()
for _ = 1, n do
  redis.call('HDEL', KEYS[12], ARGV[i])
  i = i + 1
end
n = count()
for _ = 1, n do
  redis.call('XDEL', KEYS[11], ARGV[i])
  i = i + 1
end

if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[8], 'cp', ARGV[2])
  -- Input retention on (meta rt, ADR 0012): applied entries stay for moveApplied-3.lua, which moves and trims them.
  if redis.call('HEXISTS', KEYS[8], 'rt') == 0 then
    redis.call('XTRIM', KEYS[9], 'MINID', ARGV[2])
  end
end

local nextTimer = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
if nextTimer[2] then
  return { 1, tonumber(nextTimer[2]) }
end
return { 1, -1 }
