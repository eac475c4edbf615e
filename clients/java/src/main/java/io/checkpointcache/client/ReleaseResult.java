package io.checkpointcache.client;

/** What a {@link CheckpointCacheClient#release} removed from the node. */
public record ReleaseResult(long releasedEntries, long releasedBytes) {}
