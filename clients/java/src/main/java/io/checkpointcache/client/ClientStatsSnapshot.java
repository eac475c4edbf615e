package io.checkpointcache.client;

import java.util.Map;

/**
 * The client's counters at one moment.
 *
 * @param reads reads started (each seek of a seekable stream that re-opens counts as one)
 * @param failedReads reads that ended with an error (after any fallback)
 * @param bytesFromCache bytes delivered to callers from the node agent
 * @param bytesFromRemote bytes delivered to callers from remote stores
 * @param bytesShortCircuit of {@code bytesFromCache}, the bytes read directly from the entry's file
 *     (same-node short circuit) instead of streamed by the agent
 * @param shortCircuitMisses reads whose short circuit could not serve their whole range (lease
 *     refused, file missing or too short, a block failing its CRC32C, lease lost): they went on
 *     by streaming from the agent or from the remote store
 * @param fallbacks reads that continued from the remote store, by reason (only non-zero ones)
 */
public record ClientStatsSnapshot(
    long reads,
    long failedReads,
    long bytesFromCache,
    long bytesFromRemote,
    long bytesShortCircuit,
    long shortCircuitMisses,
    Map<FallbackReason, Long> fallbacks) {
  public ClientStatsSnapshot {
    fallbacks = Map.copyOf(fallbacks);
  }

  /** Fallbacks of all reasons. */
  public long totalFallbacks() {
    return fallbacks.values().stream().mapToLong(Long::longValue).sum();
  }
}
