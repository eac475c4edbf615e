--[[
  Which of the commands the agent sends would Redis refuse the user of this connection? Asks
  redis.acl_check_cmd (Redis 7.0+), which only checks permissions: nothing is read or changed.
  The list mirrors what the agent sends itself (Scripts, RedisMetadataStore) and what its Lua
  scripts call, on the keys they call it on; keep it in step with them.

  Input:
    KEYS[1] records hash      <prefix>:{<node>}:e
    KEYS[2] TTL key           <prefix>:{<node>}:t:<probe rid>
    KEYS[3] bytes counter     <prefix>:{<node>}:b
    KEYS[4] entries counter   <prefix>:{<node>}:n
    KEYS[5] owner key         <prefix>:{<node>}:owner

    ARGV[1] database the connection SELECTs, or "" for none
    ARGV[2] "cluster" for a Redis Cluster connection, else ""
    ARGV[3] location index set of the probe id  <prefix>:l:{<probe rid>} (another slot: named
            here, never accessed, so the script stays in the node's slot)
    ARGV[4] peer address key  <prefix>:{<node>}:peer
    ARGV[5] pending deletes   <prefix>:{<node>}:deletes (other nodes' alike: the agent sends
            notices into theirs)
    ARGV[6] delete channel    <prefix>:{<node>}:deleted
    ARGV[7] node names hash   <prefix>:nodes (another slot, likewise)

  Output:
    -1     this server cannot tell (no redis.acl_check_cmd before Redis 7.0)
    {...}  the refused commands, each as "COMMAND first-argument" (e.g. "HSET ckc:{n1}:e");
           empty when every one is allowed
]]
local check = redis.acl_check_cmd
if type(check) ~= "function" then
  return -1
end
local refused = {}
local function needAs(label, ...)
  local ok, allowed = pcall(check, ...)
  if not ok or not allowed then
    refused[#refused + 1] = label
  end
end
local function need(command, first, ...)
  if first == nil then
    needAs(command, command)
  else
    needAs(command .. " " .. first, command, first, ...)
  end
end
local records, ttl, bytes, count, owner = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]

-- Sent by the agent: the connection's ready check, scripts, reads.
need("INFO")
needAs("EVALSHA " .. records, "EVALSHA", string.rep("0", 40), "4", records, ttl, bytes, count)
needAs("EVAL " .. records, "EVAL", "return 0", "4", records, ttl, bytes, count)
-- Group commit (RedisMetadataStore.registerAll): the register scripts of a group in one MULTI.
need("MULTI")
need("EXEC")
need("EXISTS", ttl)
need("HEXISTS", records, "f")
need("HGET", records, "f")
need("PTTL", ttl)
need("HSCAN", records, "0")
need("MGET", bytes, count)
if ARGV[1] ~= "" then
  need("SELECT", ARGV[1])
end
if ARGV[2] == "cluster" then
  need("CLUSTER", "SLOTS")
end

-- Sent by the agent on the location index and the peer address (RedisMetadataStore).
local locations, peer, nodes = ARGV[3], ARGV[4], ARGV[7]
need("SADD", locations, "1")
need("SREM", locations, "1")
need("SMEMBERS", locations)
need("HSETNX", nodes, "1", "n")
need("HGET", nodes, "1")
need("HMGET", nodes, "1")
need("HVALS", nodes)
need("SET", peer, "a")
need("GET", peer)
need("MGET", peer, owner)

-- Delete notices (RedisDeleteNotices, noticeDelete-1.lua, dropDelete-1.lua).
local deletes, deleted = ARGV[5], ARGV[6]
needAs("EVALSHA " .. deletes, "EVALSHA", string.rep("0", 40), "1", deletes)
need("ZADD", deletes, "0", "m")
need("PEXPIRE", deletes, "1")
need("PUBLISH", deleted, "m")
need("ZRANGE", deletes, "0", "1")
need("ZSCORE", deletes, "m")
need("ZREM", deletes, "m")
need("SUBSCRIBE", deleted)

-- Called by the scripts (registerEntry, removeEntry, touchEntry, claimExpired, claimNode).
need("HSET", records, "f", "v")
need("HDEL", records, "f")
need("SET", ttl, "1", "PX", "1")
need("DEL", ttl)
need("INCR", count)
need("DECR", count)
need("INCRBY", bytes, "1")
need("DECRBY", bytes, "1")
need("GET", owner)
need("SET", owner, "t", "PX", "1")
need("DEL", owner)
return refused
