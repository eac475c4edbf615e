package io.checkpointcache.client;

import io.checkpointcache.v1.EntryInfo;

/**
 * @param entry the entry as the agent stored it
 * @param created false when the agent already held the same bytes and kept them
 */
public record PutResult(EntryInfo entry, boolean created) {}
