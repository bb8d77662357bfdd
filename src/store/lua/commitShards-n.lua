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

-- The argument being read. Each section of a block is a count, then that
-- many items; `each(f, key)` applies `f(key, j)` to every item of the next
-- section (its arguments start at ARGV[j]); f returns how many it took.
local i
local function each(f, key)
  local n = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, n do
    i = i + f(key, i)
  end
end

local function hset(key, j) redis.call('HSET', key, ARGV[j], ARGV[j + 1]) return 2 end
local function hdel(key, j) redis.call('HDEL', key, ARGV[j]) return 1 end
local function hincrby(key, j) redis.call('HINCRBY', key, ARGV[j], ARGV[j + 1]) return 2 end
local function index(key, j) redis.call('ZADD', key, 0, ARGV[j]) return 1 end
local function zadd(key, j) redis.call('ZADD', key, ARGV[j], ARGV[j + 1]) return 2 end
local function zrem(key, j) redis.call('ZREM', key, ARGV[j]) return 1 end
local function xdel(key, j) redis.call('XDEL', key, ARGV[j]) return 1 end
-- A stream entry: m, then m field-value pairs.
local function xadd(key, j)
  local m = tonumber(ARGV[j])
  redis.call('XADD', key, '*', unpack(ARGV, j + 1, j + 2 * m))
  return 1 + 2 * m
end
-- A dead letter: its code, m, then m field-value pairs; `to` = { stream, counts hash, max length }.
local function deadLetter(to, j)
  local m = tonumber(ARGV[j + 1])
  redis.call('XADD', to[1], 'MAXLEN', '~', to[3], '*', unpack(ARGV, j + 2, j + 1 + 2 * m))
  redis.call('HINCRBY', to[2], ARGV[j], 1)
  return 2 + 2 * m
end

-- One shard's block: k = its key offset, a = the index of its epoch argument.
local function commit(k, a)
  local current = redis.call('GET', KEYS[k + 1])
  if current ~= ARGV[a] then
    return 0, current or ''
  end

  i = a + 3
  each(hset, KEYS[k + 2]) -- records
  each(index, KEYS[k + 3]) -- new keys
  each(zrem, KEYS[k + 4]) -- timers: removals first, so a timer re-armed in the same batch survives
  each(zadd, KEYS[k + 4])
  each(xadd, KEYS[k + 5]) -- outbox
  each(deadLetter, { KEYS[k + 6], KEYS[k + 7], ARGV[a + 2] })
  each(hincrby, KEYS[k + 10]) -- live counts
  each(xadd, KEYS[k + 11]) -- held input (rolling upgrades)
  each(hset, KEYS[k + 12]) -- held keys
  each(hdel, KEYS[k + 12]) -- unheld
  each(xdel, KEYS[k + 11]) -- held entries applied

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
