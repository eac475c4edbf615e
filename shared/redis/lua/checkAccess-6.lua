--[[
  Which of the commands the agent sends would Redis refuse the user of this connection? Asks
  redis.acl_check_cmd (Redis 7.0+), which only checks permissions: nothing is read or changed.
  The list mirrors what the agent sends itself (Scripts, RedisMetadataStore) and what its Lua
  scripts call, on the keys they call it on; keep it in step with them.

  Input:
    KEYS[1] entry hash        <prefix>:{<node>}:entry:<probe id>
    KEYS[2] TTL key           <prefix>:{<node>}:ttl:<probe id>
    KEYS[3] LRU sorted set    <prefix>:{<node>}:lru
    KEYS[4] bytes counter     <prefix>:{<node>}:bytes
    KEYS[5] entries counter   <prefix>:{<node>}:count
    KEYS[6] owner key         <prefix>:{<node>}:owner

    ARGV[1] database the connection SELECTs, or "" for none
    ARGV[2] "cluster" for a Redis Cluster connection, else ""
    ARGV[3] location index set of the probe id  <prefix>:loc:{<probe id>} (another slot: named
            here, never accessed, so the script stays in the node's slot)
    ARGV[4] peer address key  <prefix>:{<node>}:peer
    ARGV[5] pending deletes   <prefix>:{<node>}:deletes (other nodes' alike: the agent sends
            notices into theirs)
    ARGV[6] delete channel    <prefix>:{<node>}:deleted

  Output:
    -1     this server cannot tell (no redis.acl_check_cmd before Redis 7.0)
    {...}  the refused commands, each as "COMMAND first-argument" (e.g. "ZADD ckc:{n1}:lru");
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
local entry, ttl, lru, bytes, count, owner = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]

-- Sent by the agent: the connection's ready check, scripts, reads.
need("INFO")
needAs("EVALSHA " .. entry, "EVALSHA", string.rep("0", 40), "5", entry, ttl, lru, bytes, count)
needAs("EVAL " .. entry, "EVAL", "return 0", "5", entry, ttl, lru, bytes, count)
need("EXISTS", entry)
need("EXISTS", ttl)
need("HGETALL", entry)
need("PTTL", ttl)
need("ZSCORE", lru, "m")
need("ZSCAN", lru, "0")
need("MGET", bytes, count)
if ARGV[1] ~= "" then
  need("SELECT", ARGV[1])
end
if ARGV[2] == "cluster" then
  need("CLUSTER", "SLOTS")
end

-- Sent by the agent on the location index and the peer address (RedisMetadataStore).
local locations, peer = ARGV[3], ARGV[4]
need("SADD", locations, "n")
need("SREM", locations, "n")
need("SMEMBERS", locations)
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
need("HGET", entry, "f")
need("HSET", entry, "f", "v")
need("HDEL", entry, "f")
need("HEXISTS", entry, "f")
need("SET", ttl, "1", "PX", "1")
need("DEL", entry, ttl)
need("ZADD", lru, "0", "m")
need("ZREM", lru, "m")
need("INCR", count)
need("DECR", count)
need("INCRBY", bytes, "1")
need("DECRBY", bytes, "1")
need("GET", owner)
need("SET", owner, "t", "PX", "1")
need("DEL", owner)
return refused
