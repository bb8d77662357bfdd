--[[
  Appends the inbox entries of one input message for all its targets at once:
  every entry, or none (ADR 0021). One message on an input topic may feed
  twins on several shards; its PUBACK waits for this one write, so a retry
  after a failure never finds some targets fed already. Single Redis only:
  on Redis Cluster the inboxes are in different slots (ingest then XADDs each).

  Input:
    KEYS[1..n] inbox   stream: the shard inboxes the entries go to
    ARGV: one group per entry, in order:
      k      the entry's inbox (index into KEYS)
      m      its field count
      m x    field, value (encoded by store/inboxStream.ts, appended as given)

  Output:
    the entries' stream ids, in order
    an error, with nothing written, when a key holds something else than a stream
    (Redis runs a script in isolation and checks memory before it starts: with
    this check no write of the script fails after another succeeded)
]]
for _, key in ipairs(KEYS) do
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'stream' and t ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. key .. ' holds a ' .. t .. ', not an inbox stream: nothing written')
  end
end

local ids = {}
local i = 1
while i <= #ARGV do
  local key = KEYS[tonumber(ARGV[i])]
  local m = tonumber(ARGV[i + 1])
  local fields = {}
  for j = 1, m do
    fields[j] = ARGV[i + 1 + j]
  end
  ids[#ids + 1] = redis.call('XADD', key, '*', unpack(fields))
  i = i + 2 + m
end
return ids
