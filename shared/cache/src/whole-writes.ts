/**
 * WriteBatch's fast road for small new entries (issue 16): entries whose bytes arrived whole are
 * packed with one reservation of room, one taking of their locks and one wait for their group
 * commits, instead of each going through EntryWrites' begin, append and commit on its own. Those
 * steps cost a dozen promises per entry, and with a batch's entries all waiting on the same group
 * commits they kept ~10 KB per entry alive long enough to be promoted to V8's old generation:
 * most of the agent's CPU per entry went to its collections.
 * Only an entry on which nothing unusual can happen takes this road: valid, new (not cached, not
 * twice in the batch), its bytes what its header announced, small enough to be packed, the index
 * loaded and Redis reachable. Every other entry is left to the caller to write as a Write would
 * be (EntryWrites.begin), which meets it with the usual checks and errors; so does an entry that
 * another write created while this one waited for its lock, and every entry of a batch whose room
 * could not be reserved at once. What a stored entry is, on disk and in Redis, is the same either
 * way: one group commit writes it into a pack before anyone is answered.
 * Owns: choosing the entries it can take and the steps for them. Never: an error of its own
 * making for an entry (those come from the usual road), eviction decisions (makeRoom).
 */
import { crc32c } from '@checkpoint-cache/checksum';
import type { EntryInfo, WriteSpec } from './cache-types';
import { entryInfoOf, entryMetadataOf, type IndexedEntry } from './entry-index';
import { entryIdOf, validateCount, validateJobId, validateKey } from './entry-key';
import type { Capacity } from './capacity';
import type { DiskFull } from './disk-full';
import type { EntryIndex } from './entry-index';
import type { GroupCommit } from './group-commit';
import type { KeyedMutex } from './keyed-mutex';
import type { MetadataStore } from './metadata-store';
import { allocBlockCrcs, SIDECAR_VERSION, type Sidecar } from './sidecar';
import type { HeldBytes } from './staged-write';

/** What the fast road needs; EntryWrites' options are these and more (the same objects). */
export interface WholeWritesOptions {
  nodeId: string;
  diskFull: DiskFull;
  index: EntryIndex;
  /** NodeCache's entry locks. */
  locks: KeyedMutex;
  metadata: MetadataStore;
  /** Publishes and registers new entries in groups (one per NodeCache). */
  groups: GroupCommit;
  capacity: Capacity;
  /** Block size of new entries. */
  blockSize: number;
  /** Entries of at most this many bytes are packed (pack-store.ts); 0: none. */
  packMaxBytes: number;
  defaultTtlMs: number;
  /** Reserves room for `bytes` (and `entries`) more, evicting if needed. */
  makeRoom: (key: string, bytes: number, entries: number) => Promise<void>;
}

/** One entry whose bytes are all here (a WriteBatch item). */
export interface WholeEntry {
  spec: WriteSpec;
  data: Buffer;
}

/** What became of an entry that took the fast road. */
export type WholeOutcome = { entry: EntryInfo; created: true } | { error: unknown };

/** An entry chosen for the fast road, with what its sidecar needs. */
interface Chosen {
  at: number;
  id: string;
  spec: WriteSpec;
  data: Buffer;
  crc32c: number;
  blockCrcs: Uint32Array;
}

export class WholeWrites {
  constructor(
    private readonly o: WholeWritesOptions,
    private readonly held: HeldBytes,
  ) {}

  /**
   * Stores what entries it can; `refusal`, asked before room is made for them and again once their
   * locks are held, is the error every chosen entry fails with instead of being stored (the caller
   * cancelled), or undefined. Returns
   * one outcome per entry, undefined for an entry the caller must write the usual way.
   */
  async write(
    entries: readonly WholeEntry[],
    refusal: () => unknown,
  ): Promise<(WholeOutcome | undefined)[]> {
    const outcomes: (WholeOutcome | undefined)[] = new Array(entries.length).fill(undefined);
    const chosen = this.choose(entries);
    if (chosen.length === 0) return outcomes;
    // Already refused (the caller cancelled): none is stored, and nothing evicted to make room.
    const refused = refusal();
    if (refused !== undefined) {
      for (const c of chosen) outcomes[c.at] = { error: refused };
      return outcomes;
    }
    let bytes = 0;
    for (const c of chosen) bytes += c.data.length;
    if (!this.held.take(bytes)) return outcomes;
    try {
      try {
        await this.o.makeRoom(chosen[0]!.spec.key, bytes, chosen.length);
      } catch {
        // Not all fit: each entry on the usual road finds out whether it does, with its own error.
        return outcomes;
      }
      try {
        await this.o.locks.runAll(
          chosen.map((c) => c.id),
          () => this.publish(chosen, refusal, outcomes),
        );
      } finally {
        this.o.capacity.release(bytes, chosen.length);
      }
    } finally {
      this.held.give(bytes);
    }
    return outcomes;
  }

  /** The entries this road can take, their checksums computed. */
  private choose(entries: readonly WholeEntry[]): Chosen[] {
    const { index, metadata, packMaxBytes } = this.o;
    if (packMaxBytes === 0 || !index.ready || !metadata.isAvailable()) return [];
    const out: Chosen[] = [];
    const seen = new Set<string>();
    const twice = new Set<string>();
    for (let at = 0; at < entries.length; at++) {
      const { spec, data } = entries[at]!;
      if (data.length > packMaxBytes) continue;
      if (spec.size !== undefined && spec.size !== data.length) continue;
      try {
        validateKey(spec.key);
        validateJobId(spec.jobId);
        validateCount('checkpoint_id', spec.checkpointId);
        if (spec.size !== undefined) validateCount('size', spec.size);
        if (spec.ttlMs !== undefined) validateCount('ttl_ms', spec.ttlMs);
      } catch {
        continue;
      }
      const id = entryIdOf(spec.key);
      if (seen.has(id)) twice.add(id);
      seen.add(id);
      if (index.has(id)) continue;
      const sums = checksumsOf(data, this.o.blockSize);
      if (spec.crc32c !== undefined && spec.crc32c >>> 0 !== sums.crc32c) continue;
      out.push({ at, id, spec, data, ...sums });
    }
    // Two writes of one key in a batch: the usual road orders them (the second adds a reference).
    return twice.size === 0 ? out : out.filter((c) => !twice.has(c.id));
  }

  /** Under the chosen entries' locks: into the group commit, then into the index. */
  private async publish(
    chosen: readonly Chosen[],
    refusal: () => unknown,
    outcomes: (WholeOutcome | undefined)[],
  ): Promise<void> {
    const { index, groups, diskFull, nodeId } = this.o;
    const refused = refusal();
    const now = Date.now();
    const going: { c: Chosen; entry: IndexedEntry }[] = [];
    for (const c of chosen) {
      // Another write created it while this one waited for the lock: the usual road adds to it.
      if (index.has(c.id)) continue;
      if (refused !== undefined) {
        outcomes[c.at] = { error: refused };
        continue;
      }
      const sidecar = newSidecar(c.spec, c.data.length, c.crc32c, this.o.blockSize, c.blockCrcs, {
        nowMs: now,
        defaultTtlMs: this.o.defaultTtlMs,
      });
      going.push({ c, entry: { id: c.id, sidecar, lastAccessMs: now } });
    }
    const published = groups.publishAll(
      going.map(({ c, entry }) => ({
        id: c.id,
        packed: true as const,
        sidecar: entry.sidecar,
        data: [c.data],
        metadata: entryMetadataOf(entry),
      })),
    );
    // Each entry joins the index as soon as its own group is in place, as on the usual road: a
    // batch of several groups must not leave one group's pack counted but its entries unindexed
    // until the last group ends (eviction would see the pack's other entries alone in it).
    await Promise.all(
      going.map(({ c, entry }, i) =>
        published[i]!.then(
          (place) => {
            const added = index.add({ ...entry, pack: place });
            outcomes[c.at] = { entry: entryInfoOf(added, nodeId), created: true };
          },
          async (err: unknown) => {
            // Nothing is left of it: its pack was not written, or GroupCommit took it out again.
            outcomes[c.at] = { error: await diskFull.explain(c.spec.key, err) };
          },
        ),
      ),
    );
  }
}

/** The sidecar of a new entry written as `spec` says, created `nowMs`. */
export function newSidecar(
  spec: WriteSpec,
  size: number,
  crc32c: number,
  blockSize: number,
  blockCrcs: Uint32Array,
  at: { nowMs: number; defaultTtlMs: number },
): Sidecar {
  return {
    version: SIDECAR_VERSION,
    key: spec.key,
    jobId: spec.jobId,
    checkpointIds: spec.checkpointId > 0 ? [spec.checkpointId] : [],
    size,
    crc32c,
    createdAtMs: at.nowMs,
    ttlMs: spec.ttlMs || at.defaultTtlMs,
    blockSize,
    blockCrcs,
  };
}

/** The CRC32C of `data` and of each of its blocks. */
function checksumsOf(data: Buffer, blockSize: number): { crc32c: number; blockCrcs: Uint32Array } {
  const whole = crc32c(data);
  const blocks = Math.ceil(data.length / blockSize);
  const blockCrcs = allocBlockCrcs(blocks);
  if (blocks === 1) blockCrcs[0] = whole;
  else {
    for (let b = 0; b < blocks; b++) {
      blockCrcs[b] = crc32c(
        data.subarray(b * blockSize, Math.min(data.length, (b + 1) * blockSize)),
      );
    }
  }
  return { crc32c: whole, blockCrcs };
}
