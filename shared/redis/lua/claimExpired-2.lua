--[[
  Claims an entry whose TTL key has expired, so that the caller may delete its local files: marks
  the entry hash with the field `expiring`, after which touchEntry no longer revives the entry
  (registerEntry, a fresh write of it, clears the mark). The TTL key is re-checked here, in the
  same atomic step, so a touch or re-registration that won the race with the expiry keeps the
  entry. Claiming an entry that is already claimed claims it again: a caller that crashed between
  claim and remove can finish the job.

  Input:
    KEYS[1] entry hash        <prefix>:{<node>}:entry:<id>
    KEYS[2] TTL key           <prefix>:{<node>}:ttl:<id>

  Output:
    1  claimed: the TTL key is gone and the entry hash exists (now marked expiring)
    0  not claimed, nothing changed: the TTL key exists (the entry is alive) or the entry hash
       does not (the node's record is gone)
]]
if redis.call("EXISTS", KEYS[2]) == 1 then
  return 0
end
if redis.call("EXISTS", KEYS[1]) == 0 then
  return 0
end
redis.call("HSET", KEYS[1], "expiring", "1")
return 1
