--[[
  Records an access to an entry of a node: restarts its TTL and moves it up the LRU. Entries the
  node does not know (no hash) are left alone, so a late touch never resurrects a removed entry;
  nor are entries claimed by claimExpired (field `expiring`): their files are being deleted.
  The TTL key is SET rather than PEXPIREd so that a touch racing the expiry of the key wins: the
  expiry handler re-checks the TTL key before it deletes anything.

  Input:
    KEYS[1] entry hash        <prefix>:{<node>}:entry:<id>
    KEYS[2] TTL key           <prefix>:{<node>}:ttl:<id>
    KEYS[3] LRU sorted set    <prefix>:{<node>}:lru

    ARGV[1] id (LRU member)
    ARGV[2] atMs: time of the access, ms since the epoch
    ARGV[3] ttlMs to apply (integer > 0), or "" for the entry's own ttlMs field

  Output:
    1  touched
    0  the entry is not known, or is claimed as expired; nothing changed
   -1  no TTL given and the entry hash has no valid ttlMs field; nothing changed
]]
local entryKey = KEYS[1]
if redis.call("EXISTS", entryKey) == 0 then
  return 0
end
if redis.call("HEXISTS", entryKey, "expiring") == 1 then
  return 0
end

local ttlMs = ARGV[3]
if ttlMs == "" then
  ttlMs = redis.call("HGET", entryKey, "ttlMs")
end
if not ttlMs or (tonumber(ttlMs) or 0) <= 0 then
  return -1
end

-- Batched touches can arrive out of order: last access only moves forward.
local atMs = tonumber(ARGV[2])
local lastMs = tonumber(redis.call("HGET", entryKey, "lastAccessMs")) or 0
if atMs > lastMs then
  redis.call("HSET", entryKey, "lastAccessMs", ARGV[2])
  redis.call("ZADD", KEYS[3], ARGV[2], ARGV[1])
else
  redis.call("ZADD", KEYS[3], string.format("%d", lastMs), ARGV[1])
end
redis.call("SET", KEYS[2], "1", "PX", ttlMs)
return 1
