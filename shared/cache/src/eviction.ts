/**
 * Room for new writes: the capacity limits, least-recently-used eviction to stay within them, and
 * the leases that keep an entry read directly by a same-node client from being evicted.
 * Owns: which entries go to make room, and when nothing can. Never: removing an entry itself (the
 * `remove` it is given does that under the entry's lock), locking (NodeCache runs makeRoom under
 * its capacity lock).
 */
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { chooseVictims, type Candidate, type Capacity, type Usage } from './capacity';
import type { RemovalReason } from './cache-types';
import type { EntryIndex, IndexedEntry } from './entry-index';
import type { MetadataStore } from './metadata-store';

/** Entry id -> end of its lease (ms since the epoch). */
export class Leases {
  private readonly until = new Map<string, number>();

  /** Protects `id` until `untilMs`, or longer if it is leased longer already. */
  grant(id: string, untilMs: number): void {
    this.until.set(id, Math.max(untilMs, this.until.get(id) ?? 0));
  }

  isLeased(id: string, now = Date.now()): boolean {
    return (this.until.get(id) ?? 0) > now;
  }

  forget(id: string): void {
    this.until.delete(id);
  }

  /** Drops leases that have ended. */
  prune(now = Date.now()): void {
    for (const [id, until] of this.until) if (until <= now) this.until.delete(id);
  }
}

export interface EvictionOptions {
  index: EntryIndex;
  capacity: Capacity;
  leases: Leases;
  metadata: MetadataStore;
  /**
   * What the limits count: the index's entries, and their bytes with those the packs still hold
   * for removed entries (a pack's bytes leave the disk only with its last entry). Default: the
   * index's usage.
   */
  usage?: () => Usage;
  /** Bytes of a pack's file (what removing all its live entries frees); absent: its live bytes. */
  packFileBytes?: (pack: number) => number | undefined;
  /** Removes an entry if `still` agrees under its lock; false when nothing was removed. */
  remove: (
    id: string,
    reason: RemovalReason,
    still: (entry: IndexedEntry) => boolean,
  ) => Promise<boolean>;
}

export class Eviction {
  constructor(private readonly options: EvictionOptions) {}

  /**
   * Reserves room for `bytes` more (and `entries` more entries), evicting least recently used
   * entries if that makes it fit. Evicts nothing and throws ResourceExhausted when even evicting
   * everything would not. The caller holds the capacity lock and has waited for the index.
   */
  async makeRoom(key: string, bytes: number, entries: number): Promise<void> {
    const { index, capacity, leases, metadata, packFileBytes } = this.options;
    for (;;) {
      const need = await capacity.shortfall(this.usage(), bytes, entries);
      if (need.bytes === 0 && need.entries === 0) break;
      leases.prune();
      const victims = chooseVictims(
        evictionCandidates(index.values(), leases, packFileBytes),
        need,
      );
      if (!victims) throw this.exhausted(key, bytes);
      if (!metadata.isAvailable()) {
        throw new CacheError(
          ErrorCode.Unavailable,
          `${key} needs room but Redis is unreachable: nothing is evicted and nothing stored ` +
            'until it is back',
        );
      }
      let removed = 0;
      // A lease granted after the victims were chosen still protects its entry.
      const notLeased = (e: IndexedEntry): boolean => !leases.isLeased(e.id);
      for (const v of victims) {
        for (const id of v.ids ?? [v.id]) {
          if (await this.options.remove(id, 'lru', notLeased)) removed++;
        }
      }
      if (removed === 0) throw this.exhausted(key, bytes);
    }
    capacity.reserve(bytes, entries);
  }

  private usage(): Usage {
    return this.options.usage?.() ?? this.options.index.usage();
  }

  private exhausted(key: string, bytes: number): CacheError {
    const { capacity } = this.options;
    const { maxBytes, maxEntries, minFreeRatio } = capacity.limits;
    const usage = this.usage();
    const reserved = capacity.reserved;
    return new CacheError(
      ErrorCode.ResourceExhausted,
      `${key} (${bytes} more bytes) does not fit in the cache even after evicting every idle entry: ` +
        `${usage.bytes} bytes in ${usage.entries} entries held, ${reserved.bytes} bytes reserved by ` +
        `writes in flight; limits: max bytes ${maxBytes ?? 'none'}, max entries ` +
        `${maxEntries ?? 'none'}, min free ratio ${minFreeRatio ?? 0}. Nothing was stored`,
    );
  }
}

/**
 * What eviction may choose from: each idle entry with a file of its own, and each pack none of
 * whose entries is leased, as one candidate (all its live entries, last used when the most recent
 * of them was). Removing a packed entry frees no disk while the rest of its pack lives, so
 * evicting entries one by one to free disk space (--min-free-percent) would take every idle entry
 * before a pack went; a pack's entries were written together (most often one checkpoint's files),
 * and go together.
 */
export function evictionCandidates(
  entries: Iterable<IndexedEntry>,
  leases: Leases,
  packFileBytes?: (pack: number) => number | undefined,
): Candidate[] {
  const out: Candidate[] = [];
  const packs = new Map<number, Candidate & { ids: string[]; leased: boolean }>();
  for (const e of entries) {
    const leased = leases.isLeased(e.id);
    if (!e.pack) {
      if (!leased) out.push({ id: e.id, size: e.sidecar.size, lastAccessMs: e.lastAccessMs });
      continue;
    }
    let unit = packs.get(e.pack.pack);
    if (!unit) {
      unit = { id: e.id, size: 0, lastAccessMs: 0, ids: [], leased: false };
      packs.set(e.pack.pack, unit);
    }
    unit.ids.push(e.id);
    unit.size += e.sidecar.size;
    unit.lastAccessMs = Math.max(unit.lastAccessMs, e.lastAccessMs);
    unit.leased ||= leased;
  }
  for (const [pack, { leased, ...unit }] of packs) {
    if (leased) continue;
    // What leaves the disk with them: the whole pack, bytes of entries removed before included.
    unit.size = Math.max(unit.size, packFileBytes?.(pack) ?? 0);
    out.push(unit);
  }
  return out;
}
