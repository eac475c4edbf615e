--[[
  Tells a node that holds a copy of an entry deleted elsewhere to delete it: records the entry id
  in the node's set of pending deletes (kept until the node drains it, or for ARGV[3] ms after the
  last notice if it never does: a node gone for good) and publishes a wake-up on its channel.
  The sorted set is the durable part; the message only says "look now" and may be lost.

  Input:
    KEYS[1] the holder's pending deletes   <prefix>:{<holder>}:deletes

    ARGV[1] entry id (sha256 of the key, hex)
    ARGV[2] time of the delete, ms since the epoch (a later notice of the same id replaces it)
    ARGV[3] how long the set is kept without a drain, ms
    ARGV[4] the holder's channel           <prefix>:{<holder>}:deleted

  Output:
    1  recorded
]]
redis.call("ZADD", KEYS[1], ARGV[2], ARGV[1])
redis.call("PEXPIRE", KEYS[1], ARGV[3])
redis.call("PUBLISH", ARGV[4], ARGV[1])
return 1
