--[[
  Forgets an entry of a node: metadata hash, TTL key, LRU member and its share of the counters.
  Idempotent: the counters change only when the entry hash existed.

  Input:
    KEYS[1] entry hash        <prefix>:{<node>}:entry:<id>
    KEYS[2] TTL key           <prefix>:{<node>}:ttl:<id>
    KEYS[3] LRU sorted set    <prefix>:{<node>}:lru
    KEYS[4] bytes counter     <prefix>:{<node>}:bytes
    KEYS[5] entries counter   <prefix>:{<node>}:count

    ARGV[1] id (LRU member)

  Output:
    1  the entry existed and was removed
    0  the entry was not known (TTL key and LRU member removed anyway)
]]
local entryKey = KEYS[1]
local existed = redis.call("EXISTS", entryKey) == 1
local size = nil
if existed then
  size = redis.call("HGET", entryKey, "size")
end

redis.call("DEL", entryKey, KEYS[2])
redis.call("ZREM", KEYS[3], ARGV[1])

if not existed then
  return 0
end
if size and size ~= "0" then
  redis.call("DECRBY", KEYS[4], size)
end
redis.call("DECR", KEYS[5])
return 1
