package io.checkpointcache.client;

import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * Per-client counters of where read bytes came from and why reads left the cache; shared by every
 * read of one client, from any thread.
 * Owns: the counters. Never: exporting them (callers poll {@link CheckpointCacheClient#stats()}).
 */
final class ClientStats {
  private final LongAdder reads = new LongAdder();
  private final LongAdder failedReads = new LongAdder();
  private final LongAdder bytesFromCache = new LongAdder();
  private final LongAdder bytesFromRemote = new LongAdder();
  private final LongAdder bytesShortCircuit = new LongAdder();
  private final LongAdder shortCircuitMisses = new LongAdder();
  private final AtomicLongArray fallbacks = new AtomicLongArray(FallbackReason.values().length);

  void readStarted() {
    reads.increment();
  }

  void readFailed() {
    failedReads.increment();
  }

  void deliveredFromCache(long bytes) {
    bytesFromCache.add(bytes);
  }

  void deliveredFromRemote(long bytes) {
    bytesFromRemote.add(bytes);
  }

  /** Also counted in bytesFromCache: the short circuit is one way of reading the node's copy. */
  void shortCircuited(long bytes) {
    bytesShortCircuit.add(bytes);
  }

  /** A read's short circuit that could not serve its whole range (it streamed or fell back). */
  void shortCircuitMissed() {
    shortCircuitMisses.increment();
  }

  void fellBack(FallbackReason reason) {
    fallbacks.incrementAndGet(reason.ordinal());
  }

  ClientStatsSnapshot snapshot() {
    Map<FallbackReason, Long> byReason = new EnumMap<>(FallbackReason.class);
    for (FallbackReason reason : FallbackReason.values()) {
      long n = fallbacks.get(reason.ordinal());
      if (n > 0) byReason.put(reason, n);
    }
    return new ClientStatsSnapshot(
        reads.sum(),
        failedReads.sum(),
        bytesFromCache.sum(),
        bytesFromRemote.sum(),
        bytesShortCircuit.sum(),
        shortCircuitMisses.sum(),
        byReason);
  }
}
