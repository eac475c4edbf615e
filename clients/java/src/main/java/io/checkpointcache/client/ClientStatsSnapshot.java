package io.checkpointcache.client;

import java.util.Map;

/**
 * The client's counters at one moment.
 *
 * @param reads reads started (each seek of a seekable stream that re-opens counts as one)
 * @param failedReads reads that ended with an error (after any fallback)
 * @param bytesFromCache bytes delivered to callers from the node agent
 * @param bytesFromRemote bytes delivered to callers from remote stores
 * @param fallbacks reads that continued from the remote store, by reason (only non-zero ones)
 */
public record ClientStatsSnapshot(
    long reads,
    long failedReads,
    long bytesFromCache,
    long bytesFromRemote,
    Map<FallbackReason, Long> fallbacks) {
  public ClientStatsSnapshot {
    fallbacks = Map.copyOf(fallbacks);
  }

  /** Fallbacks of all reasons. */
  public long totalFallbacks() {
    return fallbacks.values().stream().mapToLong(Long::longValue).sum();
  }
}
