--[[
  Claims, refreshes or gives up this agent's hold on its node id, so that two agents configured
  with the same node id (and so sharing every Redis key of the node) find out instead of silently
  overwriting each other's entries. An agent is identified by a token kept in its cache directory:
  an agent restarted on the same disk is the same owner and takes over at once.

  Input:
    KEYS[1] owner key   <prefix>:{<node>}:owner

    ARGV[1] this agent's token
    ARGV[2] hold in ms; "0" gives the hold up (only if it is this agent's)

  Output:
    ""      the node id is this agent's now (or was given up)
    token   the node id is held by another agent (its token); nothing was changed
]]
local current = redis.call("GET", KEYS[1])
if ARGV[2] == "0" then
  if current == ARGV[1] then
    redis.call("DEL", KEYS[1])
  end
  return ""
end
if current and current ~= ARGV[1] then
  return current
end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return ""
