--[[
  Moves the input a shard has applied from its inbox to its retained stream,
  for what-if replay (ADR 0012). Runs after each commit that moved the
  checkpoint, while input retention is on (meta rt): the commit then leaves
  applied entries in the inbox, and only this script trims them, once they
  are copied. Idempotent: it takes what lies between the last entry it moved
  and the checkpoint; a failed or skipped run leaves them for the next one.

  Input:
    KEYS[1] inbox     stream: the shard inbox
    KEYS[2] retained  stream: the input applied, same ids and fields as the inbox
    KEYS[3] meta      hash:   cp (checkpoint), rt (retention generation), rl (last id moved)
    ARGV[1] most entries moved in one run (bounds its time; the rest go next run)
    ARGV[2] now (ms): the generation retention restarts with after a gap

  A gap: the inbox's first entry comes after the last entry moved, so a
  commit that did not retain (an owner without retention, or code from
  before it) trimmed entries this stream never got. The retained stream is
  emptied and rt set to a new generation: snapshots of the old one cannot
  be replayed across the gap (store/retention.ts drops them).

  The checkpoint entry itself stays in the inbox, as the commit's own trim
  keeps it (store/clusterStatus.ts counts the lag from it).

  Output:
    { moved, generation }   generation '' when retention is off (nothing done)
]]
local function after(a, b)
  local ams, aseq = string.match(a, '^(%d+)-(%d+)$')
  local bms, bseq = string.match(b, '^(%d+)-(%d+)$')
  ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq), tonumber(bms), tonumber(bseq)
  return ams > bms or (ams == bms and aseq > bseq)
end

local generation = redis.call('HGET', KEYS[3], 'rt')
local cp = redis.call('HGET', KEYS[3], 'cp')
if not generation or not cp then
  return { 0, generation or '' }
end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
if not first then
  return { 0, generation }
end

-- The last entry moved: the mark, or the retained stream's own last entry if it is further.
local last = redis.call('HGET', KEYS[3], 'rl')
local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
if top and (not last or after(top[1], last)) then
  last = top[1]
end
if last and after(first[1], last) then
  generation = ARGV[2]
  redis.call('HSET', KEYS[3], 'rt', generation)
  redis.call('DEL', KEYS[2])
  last = nil
end

local items = redis.call('XRANGE', KEYS[1], last and ('(' .. last) or '-', cp, 'COUNT', tonumber(ARGV[1]))
for _, item in ipairs(items) do
  redis.call('XADD', KEYS[2], item[1], unpack(item[2]))
end
if #items > 0 then
  last = items[#items][1]
  redis.call('HSET', KEYS[3], 'rl', last)
end
-- MINID keeps `last` itself: the checkpoint entry when every applied entry is moved.
if last then
  redis.call('XTRIM', KEYS[1], 'MINID', last)
end
return { #items, generation }
