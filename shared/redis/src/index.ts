/**
 * Everything checkpoint-cache says to Redis: the connection factory (one server or a Redis
 * Cluster), the key builder, the Lua scripts, the Redis-backed MetadataStore and the expiry
 * watcher (keyspace notifications).
 * Owns: connection settings, key names, Lua, and the mapping of Redis failures to CacheError.
 * Never: decide what to cache or delete on disk, read configuration or the environment, or let
 * any other package build a key or call Lua.
 */
export {
  createRedisConnection,
  waitForRedis,
  describeRedisConnection,
  isRedisCluster,
  type RedisConnection,
  type RedisConnectionOptions,
} from './redis-connection';
export {
  parseRedisUrl,
  describeRedisOptions,
  type RedisEndpoint,
  type ClusterSeed,
} from './redis-url';
export { toCacheError, isRedisAuthError } from './redis-error';
export { KeyBuilder, DEFAULT_KEY_PREFIX, nodeNumberOf } from './key-builder';
export { LegacyKeys } from './legacy-records';
export { Scripts } from './scripts';
export {
  NOTICE_KEEP_MS,
  RedisDeleteNotices,
  type DeleteNoticeHandler,
  type RedisDeleteNoticesOptions,
} from './delete-notices';
export {
  RedisMetadataStore,
  type RedisMetadataStoreOptions,
  type RedisAccessCheck,
  type NodeUsage,
  type EntryRecord,
} from './redis-metadata-store';
export {
  RedisExpiryWatcher,
  notifyFlagsToSet,
  type ExpiryHandlers,
  type ExpiryWatcherStatus,
  type NotificationState,
  type RedisExpiryWatcherOptions,
} from './expiry-watcher';
