/**
 * Capacity limits of the cache and the room reserved by writes in flight.
 * Owns: the arithmetic of "does this fit" and the choice of LRU victims. Never: removing files
 * (NodeCache evicts the victims it is given).
 */
import { promises as fs } from 'node:fs';

export interface CapacityLimits {
  /** Most bytes of entries held; absent = no limit. */
  maxBytes?: number;
  /** Most entries held; absent = no limit. */
  maxEntries?: number;
  /** Least fraction of the cache file system that must stay free (0..1); absent = 0. */
  minFreeRatio?: number;
}

export interface Candidate {
  id: string;
  size: number;
  lastAccessMs: number;
}

export interface Usage {
  bytes: number;
  entries: number;
}

/** What must be freed for `bytes` more (and optionally one more entry) to fit. */
export interface Shortfall {
  bytes: number;
  entries: number;
}

export class Capacity {
  private reservedBytes = 0;
  private reservedEntries = 0;

  constructor(
    private readonly root: string,
    readonly limits: CapacityLimits,
  ) {}

  get reserved(): Usage {
    return { bytes: this.reservedBytes, entries: this.reservedEntries };
  }

  reserve(bytes: number, entries: number): void {
    this.reservedBytes += bytes;
    this.reservedEntries += entries;
  }

  release(bytes: number, entries: number): void {
    this.reservedBytes -= bytes;
    this.reservedEntries -= entries;
  }

  /** How much must be evicted before `bytes` and `entries` more fit; zeros when they fit now. */
  async shortfall(usage: Usage, bytes: number, entries: number): Promise<Shortfall> {
    let needBytes = 0;
    let needEntries = 0;
    const { maxBytes, maxEntries, minFreeRatio } = this.limits;
    if (maxBytes !== undefined) {
      needBytes = Math.max(needBytes, usage.bytes + this.reservedBytes + bytes - maxBytes);
    }
    if (maxEntries !== undefined) {
      needEntries = Math.max(0, usage.entries + this.reservedEntries + entries - maxEntries);
    }
    if (minFreeRatio) {
      const s = await fs.statfs(this.root);
      const total = s.blocks * s.bsize;
      const free = s.bavail * s.bsize;
      // Reserved bytes of other writes are partly on disk already; count all of them to be safe.
      needBytes = Math.max(needBytes, minFreeRatio * total - (free - this.reservedBytes - bytes));
    }
    return { bytes: Math.max(0, Math.ceil(needBytes)), entries: needEntries };
  }
}

/**
 * Least recently used candidates whose removal covers the shortfall, or undefined when even
 * removing all of them would not.
 */
export function chooseVictims(candidates: Candidate[], need: Shortfall): Candidate[] | undefined {
  if (need.bytes <= 0 && need.entries <= 0) return [];
  const sorted = [...candidates].sort((a, b) => a.lastAccessMs - b.lastAccessMs);
  const victims: Candidate[] = [];
  let bytes = 0;
  for (const c of sorted) {
    if (bytes >= need.bytes && victims.length >= need.entries) break;
    victims.push(c);
    bytes += c.size;
  }
  return bytes >= need.bytes && victims.length >= need.entries ? victims : undefined;
}
