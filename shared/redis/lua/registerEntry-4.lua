--[[
  Records an entry of a node, or replaces the record of an entry it already holds, and (re)starts
  the entry's TTL. The byte and entry counters change only by what actually changed, so
  registering the same entry twice never counts it twice. Registering clears the expiring mark of
  claimExpired: a write after the expiry is a fresh entry.

  A record (key layout 2) is one field of the node's hash, its value "<size>.<last access ms>",
  both in base 36, with a leading "!" while claimed as expiring. That is all Redis needs: the byte
  counter, the expiring mark, the last access; the entry's key, labels, CRC32C and times are in
  its sidecar on the node's disk (the agent's record), never read back from Redis.

  Input:
    KEYS[1] records hash      <prefix>:{<node>}:e
    KEYS[2] TTL key           <prefix>:{<node>}:t:<rid>
    KEYS[3] bytes counter     <prefix>:{<node>}:b
    KEYS[4] entries counter   <prefix>:{<node>}:n

    ARGV[1] rid (the record's field)
    ARGV[2] the record: "<size base 36>.<lastAccessMs base 36>"
    ARGV[3] size in bytes, decimal (integer)
    ARGV[4] ttlMs (integer > 0)

  Output:
    1  the entry was new: counters incremented
    0  the entry existed: record replaced, bytes adjusted by the size difference
]]
local old = redis.call("HGET", KEYS[1], ARGV[1])
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
redis.call("SET", KEYS[2], "1", "PX", ARGV[4])

if not old then
  redis.call("INCRBY", KEYS[3], ARGV[3])
  redis.call("INCR", KEYS[4])
  return 1
end
local oldSize = tonumber(string.match(old, "^!?(%w+)%.") or "0", 36) or 0
local delta = tonumber(ARGV[3]) - oldSize
if delta ~= 0 then
  -- Sizes stay below 2^53, so the number prints as an integer.
  redis.call("INCRBY", KEYS[3], string.format("%d", delta))
end
return 0
