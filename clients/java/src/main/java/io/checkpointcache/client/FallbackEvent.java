package io.checkpointcache.client;

/**
 * A read left the agent for the remote store.
 *
 * @param reason why
 * @param offset absolute offset in the entry where the remote read started
 * @param error what the agent (or the client's own check) failed with
 */
public record FallbackEvent(FallbackReason reason, long offset, CheckpointCacheException error) {}
