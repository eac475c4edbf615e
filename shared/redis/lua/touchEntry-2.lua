--[[
  Records an access to an entry of a node: restarts its TTL and moves its last access forward.
  Entries the node does not know (no record) are left alone, so a late touch never resurrects a
  removed entry; nor are entries claimed by claimExpired (record starting with "!"): their files
  are being deleted. The TTL key is SET rather than PEXPIREd so that a touch racing the expiry of
  the key wins: the expiry handler re-checks the TTL key before it deletes anything.

  Input:
    KEYS[1] records hash      <prefix>:{<node>}:e
    KEYS[2] TTL key           <prefix>:{<node>}:t:<rid>

    ARGV[1] rid (the record's field)
    ARGV[2] atMs: time of the access, ms since the epoch, base 36
    ARGV[3] ttlMs to apply (integer > 0)

  Output:
    1  touched
    0  the entry is not known, or is claimed as expiring; nothing changed
]]
local record = redis.call("HGET", KEYS[1], ARGV[1])
if not record or string.sub(record, 1, 1) == "!" then
  return 0
end
-- Batched touches can arrive out of order: last access only moves forward.
local size, last = string.match(record, "^(%w+)%.(%w+)$")
if size and tonumber(ARGV[2], 36) > (tonumber(last, 36) or 0) then
  redis.call("HSET", KEYS[1], ARGV[1], size .. "." .. ARGV[2])
end
redis.call("SET", KEYS[2], "1", "PX", ARGV[3])
return 1
