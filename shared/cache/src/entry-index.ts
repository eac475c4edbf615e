/**
 * The node's in-memory index of its entries (what each sidecar says, last access, what Redis last
 * said of its TTL) and the bytes they hold, rebuilt at start-up from the index snapshot and the
 * sidecars it cannot vouch for. The load runs in the background; until it is complete a look-up
 * of an id not indexed yet reads that entry's sidecar directly (and indexes it), so reads are
 * served at once, and an entry removed meanwhile is never brought back by it.
 * Owns: the index (its storage is EntryTable), the byte count, the load and the count of changes
 * per shard that snapshots are checked by (SnapshotSchedule writes them, entry-scan.ts reads the
 * disk). Never: removing files, the metadata store, locking (NodeCache calls it under the entry's
 * lock).
 *
 * Entries are handed out as EntryRef: a view of one slot of the table, not an object kept per
 * entry (what an entry costs: entry-table.ts). A ref outlives its entry: once the entry is removed
 * its setters do nothing and its getters give what it last held, so a ref is compared with
 * `sameEntry`, never with `===`.
 */
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { Logger } from '@checkpoint-cache/logger';
import type { EntryInfo, IndexState, ListQuery } from './cache-types';
import type { DiskStore } from './disk-store';
import { openSnapshot, scanEntries } from './entry-scan';
import type { SnapshotWritten } from './index-snapshot';
import { SHARDS, SnapshotSchedule, type SnapshotSource } from './snapshot-schedule';
import type { EntryMetadata } from './metadata-store';
import type { Sidecar } from './sidecar';
import { EntryRef, EntryTable, sameEntry, type IndexedEntry } from './entry-table';

export type { IndexedEntry } from './entry-table';

/**
 * What reconcile needs of the index to check only entries whose TTL key may be gone by now.
 * An entry's TTL key cannot expire before its due time: the later of what Redis last said of it
 * and its last touch sent (or access, whichever is earlier) plus its TTL. Only this agent touches
 * its node's TTL keys, so a missed expiry is always of an entry that is due.
 */
export interface EntryTtlView {
  /** Ids of the entries due for a TTL check at `nowMs`. */
  ttlCheckDue(nowMs: number): string[];
  /** Records that Redis said at some time that the TTL key lives until `untilMs`. */
  noteTtlUntil(id: string, untilMs: number): void;
  has(id: string): boolean;
  /** A live iterator over the ids (removed ones are skipped, added ones come last). */
  idCursor(): IterableIterator<string>;
  readonly size: number;
}

export { sameEntry };

/** An entry being indexed. */
type NewEntry = Pick<IndexedEntry, 'id' | 'sidecar' | 'lastAccessMs' | 'pack'>;

export class EntryIndex implements EntryTtlView, SnapshotSource {
  private readonly table = new EntryTable();
  private bytes = 0;
  private state: IndexState = 'loading';
  /** Ids removed while the index was loading, which the loader must not bring back. */
  private removedWhileLoading: Set<string> | undefined = new Set();
  private loaded: Promise<void> = Promise.resolve();
  /** Settles once the load has scanned the packs (its first step); see lookup. */
  private packsScanned: Promise<void> = Promise.resolve();
  /** Adds and removals so far. */
  private changes = 0;
  /**
   * Adds and removals through add() and remove() (not the load's own inserts) per shard: a
   * snapshot vouches for a shard only while its count stands still (SnapshotSchedule).
   */
  private readonly shardChangeCounts = new Uint32Array(SHARDS);
  private readonly snapshots: SnapshotSchedule;

  constructor(
    private readonly disk: DiskStore,
    private readonly logger: Logger,
  ) {
    this.snapshots = new SnapshotSchedule(this, disk, logger);
  }

  /** Starts reading every sidecar in the background (see whenReady). */
  startLoading(): void {
    this.loaded = this.load();
    // Logged in load; callers that need the index see the rejection themselves.
    this.loaded.catch(() => undefined);
  }

  /** 'loading' until every sidecar has been read, then 'ready' ('failed' if reading failed). */
  get status(): IndexState {
    return this.state;
  }

  /** Resolves when the index is complete; rejects if it could not be read. */
  whenReady(): Promise<void> {
    return this.loaded;
  }

  /** The indexed entry, without looking at the disk. */
  get(id: string): EntryRef | undefined {
    const slot = this.table.slotOf(id);
    return slot < 0 ? undefined : this.refOf(slot, id);
  }

  /** Whether `entry` is still in the index (not removed, not replaced by a newer write). */
  isCurrent(entry: IndexedEntry): boolean {
    const now = this.get(entry.id);
    return !!now && sameEntry(now, entry);
  }

  /**
   * The indexed entry, or while the index is loading, the entry as its sidecar on disk says
   * (which then joins the index).
   */
  async lookup(id: string): Promise<IndexedEntry | undefined> {
    const indexed = this.get(id);
    if (indexed || this.state !== 'loading' || this.removedWhileLoading?.has(id)) return indexed;
    // A packed entry has no sidecar file to read: it is known once the packs are scanned, the
    // load's first step (one header and log per pack). Else a delete or expiry meanwhile would
    // find nothing, and the entry would come back from its pack.
    await this.packsScanned;
    const packed = this.get(id);
    if (packed || this.state !== 'loading' || this.removedWhileLoading?.has(id)) return packed;
    let sidecar: Sidecar | undefined;
    try {
      sidecar = await this.disk.readSidecar(id);
    } catch (error) {
      this.logger.warn('unreadable sidecar skipped while the index loads', { id, error });
      return undefined;
    }
    if (!sidecar) return undefined;
    // While the sidecar was being read the loader may have added it, or finished, or the entry
    // may have been removed (its files deleted): a copy read before the removal must not return.
    const loaded = this.get(id);
    if (loaded || this.state !== 'loading' || this.removedWhileLoading?.has(id)) return loaded;
    return this.add({ id, sidecar, lastAccessMs: sidecar.createdAtMs });
  }

  /** Indexes `entry` (copied into the table) and returns it as the index holds it. */
  add(entry: NewEntry): EntryRef {
    const old = this.table.slotOf(entry.id);
    // Packed entries are not in the shard directories a snapshot vouches for (nor in snapshots).
    if (!entry.pack || (old >= 0 && this.table.pack[old] === 0)) {
      this.shardChangeCounts[shardOf(entry.id)]++;
    }
    if (old >= 0) this.removeSlot(old);
    return this.refOf(this.insert(entry), entry.id);
  }

  /** Puts `entry`, which is not indexed, into a new slot. */
  private insert(entry: NewEntry): number {
    const { id, sidecar: s } = entry;
    const t = this.table;
    const slot = t.insert(id, s.key);
    t.setPack(slot, entry.pack);
    t.setNumbers(slot, s, entry.lastAccessMs);
    t.setJob(slot, s.jobId);
    t.setCheckpoints(slot, s.checkpointIds);
    t.setBlockCrcs(slot, s.blockCrcs);
    this.bytes += s.size;
    this.changes++;
    return slot;
  }

  /** Takes the entry with `id` out of the index; a load still running will not bring it back. */
  remove(id: string): void {
    // Counted even when absent: a removal under way while the index loads must not let the load
    // vouch for the shard (see load). Not for a packed entry: its shard directory never held it.
    const slot = this.table.slotOf(id);
    if (slot < 0 || this.table.pack[slot] === 0) this.shardChangeCounts[shardOf(id)]++;
    if (slot >= 0) this.removeSlot(slot);
    this.removedWhileLoading?.add(id);
  }

  has(id: string): boolean {
    return this.table.slotOf(id) >= 0;
  }

  get size(): number {
    return this.table.count;
  }

  get ready(): boolean {
    return this.state === 'ready';
  }

  get changeCount(): number {
    return this.changes;
  }

  shardChanges(shard: number): number {
    return this.shardChangeCounts[shard]!;
  }

  idsByShard(): string[][] {
    const out = Array.from({ length: SHARDS }, (): string[] => []);
    const t = this.table;
    for (let slot = 0; slot < t.slotLimit; slot++) {
      // Packed entries are found in their packs at every start (pack-store.ts), not snapshotted.
      if (t.isLive(slot) && t.pack[slot] === 0) out[t.shardOf(slot)]!.push(t.idOf(slot));
    }
    return out;
  }

  /** A live iterator over the ids, in slot order (a slot freed and reused behind it is missed). */
  *idCursor(): Generator<string> {
    for (let slot = 0; slot < this.table.slotLimit; slot++) {
      if (this.table.isLive(slot)) yield this.table.idOf(slot);
    }
  }

  /**
   * Ids of the entries whose TTL key may be gone at `nowMs`: due at the later of what Redis last
   * said and the earlier of the last access and the last touch queued, plus the TTL.
   */
  ttlCheckDue(nowMs: number): string[] {
    const t = this.table;
    const due: string[] = [];
    for (let slot = 0; slot < t.slotLimit; slot++) {
      if (!t.isLive(slot)) continue;
      const access = t.lastAccessMs[slot]!;
      const queued = t.touchQueuedMs[slot]!;
      const touched = Number.isNaN(queued) ? access : Math.min(access, queued);
      if (Math.max(t.ttlKnownUntilMs[slot]!, touched + t.ttlMs[slot]!) <= nowMs) {
        due.push(t.idOf(slot));
      }
    }
    return due;
  }

  noteTtlUntil(id: string, untilMs: number): void {
    const slot = this.table.slotOf(id);
    if (slot >= 0) {
      const known = this.table.ttlKnownUntilMs;
      known[slot] = Math.max(known[slot]!, untilMs);
    }
  }

  /** Every entry, lazily (each is a ref built as it is reached). */
  *values(): Generator<EntryRef> {
    for (let slot = 0; slot < this.table.slotLimit; slot++) {
      if (this.table.isLive(slot)) yield this.refOf(slot, this.table.idOf(slot));
    }
  }

  /** Ids of the entries in the index (a snapshot). */
  ids(): string[] {
    return [...this.idCursor()];
  }

  /** Entries and bytes held. */
  usage(): { entries: number; bytes: number } {
    return { entries: this.table.count, bytes: this.bytes };
  }

  /**
   * One page of the entries matching `query`, in key order, and the token of the next page (empty
   * on the last). A page token is the last key of the page before, base64url-encoded.
   */
  page(query: ListQuery, pageSize: number): { page: IndexedEntry[]; nextPageToken: string } {
    let after: string | undefined;
    if (query.pageToken) {
      after = Buffer.from(query.pageToken, 'base64url').toString('utf8');
      if (Buffer.from(after, 'utf8').toString('base64url') !== query.pageToken) {
        throw new CacheError(
          ErrorCode.InvalidArgument,
          'page_token is malformed; pass next_page_token',
        );
      }
    }
    const t = this.table;
    const matching: number[] = [];
    for (let slot = 0; slot < t.slotLimit; slot++) {
      const key = t.keys[slot];
      if (key === undefined || (after !== undefined && key <= after)) continue;
      if (query.jobId && t.jobOf(slot) !== query.jobId) continue;
      if (query.checkpointId !== undefined && !t.checkpointsOf(slot).includes(query.checkpointId)) {
        continue;
      }
      matching.push(slot);
    }
    matching.sort((a, b) => (t.keys[a]! < t.keys[b]! ? -1 : t.keys[a]! > t.keys[b]! ? 1 : 0));
    const page = matching.slice(0, pageSize).map((slot) => this.refOf(slot, t.idOf(slot)));
    const last = page[page.length - 1];
    const nextPageToken =
      matching.length > pageSize && last
        ? Buffer.from(last.sidecar.key, 'utf8').toString('base64url')
        : '';
    return { page, nextPageToken };
  }

  private refOf(slot: number, id: string): EntryRef {
    return new EntryRef(this.table, id, slot, this.table.generation[slot]!);
  }

  private removeSlot(slot: number): void {
    this.bytes -= this.table.size[slot]!;
    this.table.delete(slot);
    this.changes++;
  }

  /**
   * Writes the index snapshot (SnapshotSchedule.save) once the index is ready: always when `force`
   * (shutdown), else only if entries came or went since the last one.
   */
  saveSnapshot(force: boolean): Promise<SnapshotWritten | undefined> {
    return this.snapshots.save(force);
  }

  /** Saves a snapshot every `intervalMs` in which entries came or went (0: never). */
  startSnapshots(intervalMs: number): void {
    this.snapshots.start(intervalMs);
  }

  /** Stops the periodic snapshots and waits for one being written. */
  stopSnapshots(): Promise<void> {
    return this.snapshots.stop();
  }

  private async load(): Promise<void> {
    const started = Date.now();
    // CPU as well as wall time: on a busy machine the wall time says more about the neighbours.
    const cpuAtStart = process.cpuUsage();
    const root = this.disk.root;
    const snapshot = openSnapshot(root, this.logger);
    try {
      if (snapshot) this.table.reserve(snapshot.count);
      // Packs first: an entry there has no sidecar file for a read during the load to find.
      let packed = 0;
      const packScan = this.disk.packs.scan((entry) => {
        if (this.has(entry.id) || this.removedWhileLoading?.has(entry.id)) return false;
        this.insert({ ...entry, pack: entry.place, lastAccessMs: entry.sidecar.createdAtMs });
        packed++;
        return true;
      });
      // Set before the first await, so before any look-up can wait on it.
      this.packsScanned = packScan.then(
        () => undefined,
        () => undefined,
      );
      const packProblems = await packScan;
      /** Entries with files of their own that a pack holds too (a lost removal record). */
      const duplicates: string[] = [];
      const {
        loaded,
        known: fromSnapshot,
        listedShards,
        wholeShards,
        problems,
      } = await scanEntries(
        this.disk,
        (entry) => {
          const { id, sidecar } = entry;
          const slot = this.table.slotOf(id);
          if (slot >= 0 && this.table.pack[slot] !== 0) duplicates.push(id);
          if (slot >= 0 || this.removedWhileLoading?.has(id)) return false;
          this.insert({ id, sidecar, lastAccessMs: entry.lastAccessMs ?? sidecar.createdAtMs });
          return true;
        },
        snapshot,
      );
      // A shard taken whole whose entries nothing else added or removed during the load holds
      // what its directory holds: the first snapshot need not list it again.
      for (const { shard, stamp } of wholeShards) {
        const n = parseInt(shard, 16);
        if (this.shardChangeCounts[n] === 0) this.snapshots.noteChecked(n, stamp, 0);
      }
      // The same key names the same bytes: the packed copy is kept, the other removed.
      for (const id of duplicates) await this.disk.remove(id);
      for (const { file, error, removed } of packProblems) {
        this.logger.warn('pack problem at start-up', { file, error, removed });
      }
      for (const problem of problems) {
        this.logger.warn('unusable entry file removed at start-up', {
          file: problem.file,
          error: problem.error,
        });
      }
      this.state = 'ready';
      this.logger.info('cache index loaded', {
        entries: loaded + packed,
        packed,
        fromSnapshot,
        shardsListed: listedShards,
        shardsWhole: wholeShards.length,
        bytes: this.bytes,
        ms: Date.now() - started,
        cpuMs: Math.round(cpuMsSince(cpuAtStart)),
        root,
      });
    } catch (error) {
      this.state = 'failed';
      this.logger.error('cache index could not be loaded', { root, error });
      throw error;
    } finally {
      snapshot?.close();
      this.removedWhileLoading = undefined;
    }
  }
}

/** The shard of entry `id` (64 hex): its first byte. */
function shardOf(id: string): number {
  return parseInt(id.slice(0, 2), 16);
}

/** CPU time of the whole process since `start` (process.cpuUsage), in ms. */
function cpuMsSince(start: NodeJS.CpuUsage): number {
  const { user, system } = process.cpuUsage(start);
  return (user + system) / 1000;
}

/** What the metadata store records of an entry. */
export function entryMetadataOf(entry: IndexedEntry): EntryMetadata {
  const s = entry.sidecar;
  return {
    key: s.key,
    id: entry.id,
    jobId: s.jobId,
    checkpointIds: s.checkpointIds,
    size: s.size,
    crc32c: s.crc32c,
    createdAtMs: s.createdAtMs,
    lastAccessMs: entry.lastAccessMs,
    ttlMs: s.ttlMs,
  };
}

export function entryInfoOf(entry: IndexedEntry, nodeId: string): EntryInfo {
  return { ...entryMetadataOf(entry), nodeId };
}
