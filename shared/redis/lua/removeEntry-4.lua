--[[
  Forgets an entry of a node: its record, its TTL key and its share of the counters. Idempotent:
  the counters change only when the record existed.

  Input:
    KEYS[1] records hash      <prefix>:{<node>}:e
    KEYS[2] TTL key           <prefix>:{<node>}:t:<rid>
    KEYS[3] bytes counter     <prefix>:{<node>}:b
    KEYS[4] entries counter   <prefix>:{<node>}:n

    ARGV[1] rid (the record's field)

  Output:
    1  the entry existed and was removed
    0  the entry was not known (TTL key removed anyway)
]]
local old = redis.call("HGET", KEYS[1], ARGV[1])
redis.call("DEL", KEYS[2])
if not old then
  return 0
end
redis.call("HDEL", KEYS[1], ARGV[1])
local size = tonumber(string.match(old, "^!?(%w+)%.") or "0", 36) or 0
if size ~= 0 then
  redis.call("DECRBY", KEYS[3], string.format("%d", size))
end
redis.call("DECR", KEYS[4])
return 1
