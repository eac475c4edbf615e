--[[
  Claims an entry whose TTL key has expired, so that the caller may delete its local files: marks
  its record with a leading "!", after which touchEntry no longer revives the entry
  (registerEntry, a fresh write of it, replaces the record and so clears the mark). The TTL key is
  re-checked here, in the same atomic step, so a touch or re-registration that won the race with
  the expiry keeps the entry. Claiming an entry that is already claimed claims it again: a caller
  that crashed between claim and remove can finish the job.

  Input:
    KEYS[1] records hash      <prefix>:{<node>}:e
    KEYS[2] TTL key           <prefix>:{<node>}:t:<rid>

    ARGV[1] rid (the record's field)

  Output:
    1  claimed: the TTL key is gone and the record exists (now marked expiring)
    0  not claimed, nothing changed: the TTL key exists (the entry is alive) or the record does
       not (the node's record is gone)
]]
if redis.call("EXISTS", KEYS[2]) == 1 then
  return 0
end
local record = redis.call("HGET", KEYS[1], ARGV[1])
if not record then
  return 0
end
if string.sub(record, 1, 1) ~= "!" then
  redis.call("HSET", KEYS[1], ARGV[1], "!" .. record)
end
return 1
