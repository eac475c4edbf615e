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
  /**
   * The entries evicted together with this candidate, when more than `id`: the live entries of a
   * pack, whose bytes leave the disk only with the last of them (pack-store.ts).
   */
  ids?: string[];
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

/**
 * How long a statfs answer may stand in for the next one. Every write asks under the capacity lock,
 * so one thread-pool round trip each serialised all writes behind it (issue #16); see shortfall.
 */
const STATFS_REUSE_MS = 100;

interface FsSample {
  atMs: number;
  totalBytes: number;
  freeBytes: number;
}

export class Capacity {
  private reservedBytes = 0;
  private reservedEntries = 0;
  private sample: FsSample | undefined;
  /** Bytes of reservations released since `sample` was taken: on disk now, or counted so. */
  private releasedSinceSample = 0;

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
    this.releasedSinceSample += bytes;
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
      // A statfs younger than STATFS_REUSE_MS may only say "fits": the bytes released since it
      // (written, or given up) count as used. Any shortfall, and so every eviction decision and
      // the check after it, is taken on a fresh statfs.
      const recent =
        this.sample && Date.now() - this.sample.atMs < STATFS_REUSE_MS ? this.sample : undefined;
      let need = recent ? this.freeShortfall(recent, minFreeRatio, bytes) : 1;
      if (need > 0) need = this.freeShortfall(await this.takeSample(), minFreeRatio, bytes);
      needBytes = Math.max(needBytes, need);
    }
    return { bytes: Math.max(0, Math.ceil(needBytes)), entries: needEntries };
  }

  private freeShortfall(sample: FsSample, minFreeRatio: number, bytes: number): number {
    // Reserved bytes of other writes are partly on disk already; count all of them to be safe.
    const free = sample.freeBytes - (sample === this.sample ? this.releasedSinceSample : 0);
    return minFreeRatio * sample.totalBytes - (free - this.reservedBytes - bytes);
  }

  private async takeSample(): Promise<FsSample> {
    const s = await fs.statfs(this.root);
    this.sample = {
      atMs: Date.now(),
      totalBytes: s.blocks * s.bsize,
      freeBytes: s.bavail * s.bsize,
    };
    this.releasedSinceSample = 0;
    return this.sample;
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
  let entries = 0;
  for (const c of sorted) {
    if (bytes >= need.bytes && entries >= need.entries) break;
    victims.push(c);
    bytes += c.size;
    entries += c.ids?.length ?? 1;
  }
  return bytes >= need.bytes && entries >= need.entries ? victims : undefined;
}
