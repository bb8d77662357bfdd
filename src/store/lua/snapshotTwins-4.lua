--[[
  Takes a base snapshot of a shard's twins for what-if replay (ADR 0012): a
  copy of the twins hash with the checkpoint it is consistent with. Both are
  read in one script, between two commits, and every commit writes records
  and checkpoint together: the copy is the twins after exactly the input up
  to that checkpoint (and the timers fired up to the last commit).

  Input:
    KEYS[1] twins      hash: twin key -> encoded record
    KEYS[2] meta       hash: cp (checkpoint), rt (retention generation)
    KEYS[3] snapshots  zset: the shard's snapshots, scored by the time taken
    KEYS[4] snapshot   hash: the new snapshot (keys.ts snapshot(at)); must not exist
    ARGV[1] at: the time taken (ms, the owner's clock)

  The zset member is `<at>|<checkpoint or 0-0>|<generation>`
  (decoded by store/retention.ts).

  Output:
    { 1, member }   taken (a shard without twins yet gets a member and no hash)
    { 0, why }      not taken: retention is off, or a snapshot of that time exists
]]
local generation = redis.call('HGET', KEYS[2], 'rt')
if not generation then
  return { 0, 'retention off' }
end
if redis.call('EXISTS', KEYS[4]) == 1 then
  return { 0, 'exists' }
end
local cp = redis.call('HGET', KEYS[2], 'cp') or '0-0'
redis.call('COPY', KEYS[1], KEYS[4])
local member = ARGV[1] .. '|' .. cp .. '|' .. generation
redis.call('ZADD', KEYS[3], tonumber(ARGV[1]), member)
return { 1, member }
