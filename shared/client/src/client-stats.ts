/**
 * Per-client counters of where read bytes came from and why reads left the cache.
 * Owns: the counters. Never: exporting them anywhere (callers poll `snapshot()`).
 */
import type { FallbackReason } from './fallback-policy';

export interface ClientStatsSnapshot {
  /** Reads started. */
  reads: number;
  /** Reads that ended with an error (after any fallback). */
  failedReads: number;
  /** Bytes delivered to callers from the node agent. */
  bytesFromCache: number;
  /** Bytes delivered to callers from remote stores. */
  bytesFromRemote: number;
  /** Reads that continued from the remote store, by reason. */
  fallbacks: Partial<Record<FallbackReason, number>>;
  /** Of bytesFromCache, those read straight from the cache volume (same-node short circuit). */
  bytesShortCircuit: number;
  /** Short-circuit attempts that went back to streaming from the agent. */
  shortCircuitMisses: number;
}

export class ClientStats {
  private reads = 0;
  private failedReads = 0;
  private bytesFromCache = 0;
  private bytesFromRemote = 0;
  private readonly fallbacks = new Map<FallbackReason, number>();
  private bytesShortCircuit = 0;
  private shortCircuitMisses = 0;

  readStarted(): void {
    this.reads++;
  }

  readFailed(): void {
    this.failedReads++;
  }

  delivered(source: 'cache' | 'remote', bytes: number): void {
    if (source === 'cache') this.bytesFromCache += bytes;
    else this.bytesFromRemote += bytes;
  }

  shortCircuited(bytes: number): void {
    this.bytesShortCircuit += bytes;
  }

  shortCircuitMissed(): void {
    this.shortCircuitMisses++;
  }

  fellBack(reason: FallbackReason): void {
    this.fallbacks.set(reason, (this.fallbacks.get(reason) ?? 0) + 1);
  }

  snapshot(): ClientStatsSnapshot {
    return {
      reads: this.reads,
      failedReads: this.failedReads,
      bytesFromCache: this.bytesFromCache,
      bytesFromRemote: this.bytesFromRemote,
      fallbacks: Object.fromEntries(this.fallbacks),
      bytesShortCircuit: this.bytesShortCircuit,
      shortCircuitMisses: this.shortCircuitMisses,
    };
  }
}
