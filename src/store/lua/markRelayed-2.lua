--[[
  Records how far the outbox relay got in a shard's outbox, and trims what is
  both relayed and beyond the retention length: entries not yet relayed are
  never trimmed, however long the relay is stuck.

  Input:
    KEYS[1] outbox  stream: the shard's outbox
    KEYS[2] meta    hash:   relayed = last outbox id relayed
    ARGV[1] the last outbox id this relay pass relayed
    ARGV[2] retention: entries kept (approximately) once relayed; 0 = do not trim now

  Output:
    1  the mark moved forward (and the outbox was trimmed if over retention)
    0  the stored mark is already at or past ARGV[1] (another relay got further): nothing written
]]
local function after(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq), tonumber(bms), tonumber(bseq)
  return ams > bms or (ams == bms and aseq > bseq)
end

local current = redis.call('HGET', KEYS[2], 'relayed')
if current and not after(ARGV[1], current) then
  return 0
end
redis.call('HSET', KEYS[2], 'relayed', ARGV[1])

local keep = tonumber(ARGV[2])
if keep > 0 then
  local excess = redis.call('XLEN', KEYS[1]) - keep
  -- Trim in steps of at least a tenth of the retention, so each pass pays for many entries.
  if excess > math.max(100, math.floor(keep / 10)) then
    -- The first entry to keep: the one after the excess, or the mark if that comes first.
    local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess + 1)
    local minid = oldest[#oldest][1]
    if after(minid, ARGV[1]) then
      minid = ARGV[1]
    end
    -- MINID keeps minid itself and everything after it: all of it is unrelayed or within retention.
    redis.call('XTRIM', KEYS[1], 'MINID', minid)
  end
end
return 1
