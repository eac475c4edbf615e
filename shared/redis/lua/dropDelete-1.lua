--[[
  Takes a handled delete notice out of this node's pending deletes, unless a newer notice of the
  same entry replaced it meanwhile (its score changed): that one is handled by the next drain.

  Input:
    KEYS[1] this node's pending deletes   <prefix>:{<node>}:deletes

    ARGV[1] entry id
    ARGV[2] the score (time of the delete, ms) the handled notice had, as ZRANGE returned it

  Output:
    1  removed
    0  not removed: gone already, or replaced by a newer notice
]]
local score = redis.call("ZSCORE", KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then
  return 0
end
redis.call("ZREM", KEYS[1], ARGV[1])
return 1
