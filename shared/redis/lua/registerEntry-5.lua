--[[
  Records an entry of a node, or replaces the record of an entry it already holds, and (re)starts
  the entry's TTL. The byte and entry counters change only by what actually changed, so
  registering the same entry twice never counts it twice. Registering clears the `expiring` mark
  of claimExpired: a write after the expiry is a fresh entry.

  Input:
    KEYS[1] entry hash        <prefix>:{<node>}:entry:<id>
    KEYS[2] TTL key           <prefix>:{<node>}:ttl:<id>
    KEYS[3] LRU sorted set    <prefix>:{<node>}:lru
    KEYS[4] bytes counter     <prefix>:{<node>}:bytes
    KEYS[5] entries counter   <prefix>:{<node>}:count

    ARGV[1] id (LRU member)
    ARGV[2] key
    ARGV[3] jobId
    ARGV[4] checkpointIds, comma-separated
    ARGV[5] size in bytes (integer)
    ARGV[6] crc32c
    ARGV[7] createdAtMs
    ARGV[8] lastAccessMs, also the LRU score
    ARGV[9] ttlMs (integer > 0)

  Output:
    1  the entry was new: counters incremented
    0  the entry existed: record replaced, bytes adjusted by the size difference
]]
local entryKey = KEYS[1]
local existed = redis.call("EXISTS", entryKey) == 1
local oldSize = nil
if existed then
  oldSize = tonumber(redis.call("HGET", entryKey, "size")) or 0
  redis.call("HDEL", entryKey, "expiring")
end

redis.call("HSET", entryKey,
  "key", ARGV[2], "jobId", ARGV[3], "checkpointIds", ARGV[4], "size", ARGV[5],
  "crc32c", ARGV[6], "createdAtMs", ARGV[7], "lastAccessMs", ARGV[8], "ttlMs", ARGV[9])
redis.call("SET", KEYS[2], "1", "PX", ARGV[9])
redis.call("ZADD", KEYS[3], ARGV[8], ARGV[1])

if not existed then
  redis.call("INCRBY", KEYS[4], ARGV[5])
  redis.call("INCR", KEYS[5])
  return 1
end
local delta = tonumber(ARGV[5]) - oldSize
if delta ~= 0 then
  -- Sizes stay below 2^53, so the number prints as an integer.
  redis.call("INCRBY", KEYS[4], string.format("%d", delta))
end
return 0
