--[[
  Commits the processed batches of one or more shards, each atomically and
  fenced by its own lease epoch: a shard whose epoch is stale is refused and
  nothing of it is written; the others commit. One call commits every shard
  a worker step touched on a standalone Redis; on Redis Cluster (one slot per
  shard) each shard is its own call. One round trip and one script per step
  instead of per shard is what keeps the cost per event flat at low load
  (docs/benchmarks.md, "Group commit").

  Input:
    KEYS: 12 per shard, in this order (shard s at offset 12 * (s - 1)):
      1 epoch       string: current lease epoch of the shard
      2 twins       hash:   twin key -> encoded record (store/twinRecords.ts)
      3 index       zset:   twin keys (score 0)
      4 timers      zset:   'key|timerId' -> due ms
      5 outbox      stream: derived events, rule feeds, commands
      6 dead        stream: dead letters
      7 deadCounts  hash:   reason code -> count
      8 meta        hash:   cp (checkpoint; store/shardMeta.ts); rt (input retention on)
      9 inbox       stream: the shard inbox (trimmed up to the checkpoint, unless rt is set; approximately:
                    whole stream nodes only, about 5x cheaper than an exact trim, so a few applied
                    entries stay until the next node fills; store/clusterStatus.ts counts them out)
      10 counts     hash:   live count per type, state, tag and indicator (store/stateCounts.ts)
      11 held       stream: input held for twins stored by a newer definition version
      12 heldKeys   hash:   twin key -> version, of the twins whose input is held

    ARGV[1] the number of shards; then per shard, its block:
      the block's length (arguments after this one), then
      epoch the committing worker holds
      checkpoint: last inbox id applied by this batch, '' when none
      dead-letter max length (approximate trim)
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

  Output: per shard, in order, two values:
    1, nextTimerDue or -1   committed
    0, currentEpoch         refused: the epoch is stale, nothing of this shard written
]]

-- One shard's block: k = its key offset, a = the index of its epoch argument.
local function commit(k, a)
  local current = redis.call('GET', KEYS[k + 1])
  if current ~= ARGV[a] then
    return 0, current or ''
  end

  local i = a + 3
  local function count()
    local n = tonumber(ARGV[i])
    i = i + 1
    return n
  end

  -- records
  local n = count()
  for _ = 1, n do
    redis.call('HSET', KEYS[k + 2], ARGV[i], ARGV[i + 1])
    i = i + 2
  end

  -- new keys
  n = count()
  for _ = 1, n do
    redis.call('ZADD', KEYS[k + 3], 0, ARGV[i])
    i = i + 1
  end

  -- timers: removals first, so a timer re-armed in the same batch survives
  n = count()
  for _ = 1, n do
    redis.call('ZREM', KEYS[k + 4], ARGV[i])
    i = i + 1
  end
  n = count()
  for _ = 1, n do
    redis.call('ZADD', KEYS[k + 4], ARGV[i], ARGV[i + 1])
    i = i + 2
  end

  -- outbox
  n = count()
  for _ = 1, n do
    local m = tonumber(ARGV[i])
    redis.call('XADD', KEYS[k + 5], '*', unpack(ARGV, i + 1, i + 2 * m))
    i = i + 1 + 2 * m
  end

  -- dead letters
  n = count()
  for _ = 1, n do
    local code = ARGV[i]
    local m = tonumber(ARGV[i + 1])
    redis.call('XADD', KEYS[k + 6], 'MAXLEN', '~', ARGV[a + 2], '*', unpack(ARGV, i + 2, i + 1 + 2 * m))
    redis.call('HINCRBY', KEYS[k + 7], code, 1)
    i = i + 2 + 2 * m
  end

  -- live counts
  n = count()
  for _ = 1, n do
    redis.call('HINCRBY', KEYS[k + 10], ARGV[i], ARGV[i + 1])
    i = i + 2
  end

  -- held input (rolling upgrades)
  n = count()
  for _ = 1, n do
    local m = tonumber(ARGV[i])
    redis.call('XADD', KEYS[k + 11], '*', unpack(ARGV, i + 1, i + 2 * m))
    i = i + 1 + 2 * m
  end
  n = count()
  for _ = 1, n do
    redis.call('HSET', KEYS[k + 12], ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  n = count()
  for _ = 1, n do
    redis.call('HDEL', KEYS[k + 12], ARGV[i])
    i = i + 1
  end
  n = count()
  for _ = 1, n do
    redis.call('XDEL', KEYS[k + 11], ARGV[i])
    i = i + 1
  end

  if ARGV[a + 1] ~= '' then
    redis.call('HSET', KEYS[k + 8], 'cp', ARGV[a + 1])
    -- Input retention on (meta rt, ADR 0012): applied entries stay for moveApplied-3.lua, which moves and trims them.
    if redis.call('HEXISTS', KEYS[k + 8], 'rt') == 0 then
      redis.call('XTRIM', KEYS[k + 9], 'MINID', '~', ARGV[a + 1])
    end
  end

  local nextTimer = redis.call('ZRANGE', KEYS[k + 4], 0, 0, 'WITHSCORES')
  if nextTimer[2] then
    return 1, tonumber(nextTimer[2])
  end
  return 1, -1
end

local out = {}
local a = 2
for s = 1, tonumber(ARGV[1]) do
  local length = tonumber(ARGV[a])
  local ok, value = commit(12 * (s - 1), a + 1)
  out[#out + 1] = ok
  out[#out + 1] = value
  a = a + 1 + length
end
return out
