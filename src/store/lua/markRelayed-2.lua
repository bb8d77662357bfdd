--[[
  Records how far one lane of the outbox relay got in a shard's outbox, and
  trims what every lane has passed and is beyond the retention length:
  entries a lane has not passed are never trimmed, however long it is stuck
  (ADR 0045: the broker lane waits out a broker outage while the routes lane
  goes on).

  Input:
    KEYS[1] outbox  stream: the shard's outbox
    KEYS[2] meta    hash:   relayed = last outbox id the broker lane passed (MQTT)
                            routed  = last outbox id the routes lane passed (target
                                      inboxes, sinks); '0-0': none yet. Absent while
                                      only a mark of before ADR 0045 is there (one
                                      mark stood for both): `relayed` is where both are;
                                      the first move of `relayed` writes that down
    ARGV[1] the mark to move: 'relayed' or 'routed'
    ARGV[2] the last outbox id this pass of that lane handled
    ARGV[3] retention: entries kept (approximately) once passed; 0 = do not trim now

  Output:
    1  the mark moved forward (and the outbox was trimmed if over retention)
    0  the stored mark is already at or past ARGV[2] (another relay got further): nothing written
]]
local function after(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq), tonumber(bms), tonumber(bseq)
  return ams > bms or (ams == bms and aseq > bseq)
end

local field = ARGV[1]
if field ~= 'relayed' and field ~= 'routed' then
  return redis.error_reply('ERR markRelayed: unknown mark ' .. tostring(field))
end
local current = redis.call('HGET', KEYS[2], field)
if current and not after(ARGV[2], current) then
  return 0
end
if field == 'relayed' and not redis.call('HGET', KEYS[2], 'routed') then
  -- The routes lane has no mark of its own yet: it is where the single mark was, or at the start.
  redis.call('HSET', KEYS[2], 'routed', current or '0-0')
end
redis.call('HSET', KEYS[2], field, ARGV[2])

local keep = tonumber(ARGV[3])
if keep > 0 then
  -- The oldest of the two marks: nothing after it may go. A lane with no mark yet: nothing is trimmed.
  local relayed = redis.call('HGET', KEYS[2], 'relayed')
  local routed = redis.call('HGET', KEYS[2], 'routed')
  if not relayed or not routed then
    return 1
  end
  local oldestMark = relayed
  if after(relayed, routed) then
    oldestMark = routed
  end
  local excess = redis.call('XLEN', KEYS[1]) - keep
  -- Trim in steps of at least a tenth of the retention, so each pass pays for many entries.
  if excess > math.max(100, math.floor(keep / 10)) then
    -- The first entry to keep: the one after the excess, or the oldest mark if that comes first.
    local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess + 1)
    local minid = oldest[#oldest][1]
    if after(minid, oldestMark) then
      minid = oldestMark
    end
    -- MINID keeps minid itself and everything after it: all of it is not passed by some lane, or within retention.
    redis.call('XTRIM', KEYS[1], 'MINID', minid)
  end
end
return 1
