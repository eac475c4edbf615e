/**
 * The node's in-memory index of its entries: id -> sidecar and last access, and the bytes they
 * hold, rebuilt from the sidecars on disk at start-up. The load runs in the background; until it
 * is complete a look-up of an id not indexed yet reads that entry's sidecar directly (and indexes
 * it), so reads are served at once, and an entry removed meanwhile is never brought back by it.
 * Owns: the map, the byte count, the load and its state. Never: removing files, the metadata
 * store, locking (NodeCache calls it under the entry's lock).
 *
 * What an entry costs here (V8 heap, 20,000 small entries with ~70-byte keys, measured by
 * keeping parts of what the load produces, 2026-12-03): the map slot and the 64-hex id ~180 B, the
 * key ~80 B, this record and its sidecar object with their numbers ~200 B, the checkpoint id
 * array ~55 B, the block CRC view ~100 B (its bytes sit in a shared slab, see sidecar.ts): ~620 B,
 * against a target of 300 B (issue #16). What would get there: numbers in columns (typed arrays)
 * instead of an object per entry, a shorter map key than the hex id, block CRCs read from the
 * sidecar when a read needs them.
 */
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { Logger } from '@checkpoint-cache/logger';
import type { EntryInfo, IndexState, ListQuery } from './cache-types';
import * as path from 'node:path';
import type { DiskStore, KnownEntries } from './disk-store';
import { SNAPSHOT_FILE, SnapshotReader, UnusableSnapshot, writeSnapshot } from './index-snapshot';
import type { EntryMetadata } from './metadata-store';
import type { Sidecar } from './sidecar';

export interface IndexedEntry {
  id: string;
  sidecar: Sidecar;
  lastAccessMs: number;
  /** When the last read or stat queued a TTL touch of this entry (see NodeCache.touchLater). */
  touchQueuedMs?: number;
  /** Until when Redis last said the TTL key lives (reconcile's PTTL), ms since the epoch. */
  ttlKnownUntilMs?: number;
}

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

/** The earliest time the entry's TTL key may expire without this agent deleting it. */
export function ttlDueMs(entry: IndexedEntry): number {
  const touched = Math.min(entry.lastAccessMs, entry.touchQueuedMs ?? entry.lastAccessMs);
  return Math.max(entry.ttlKnownUntilMs ?? 0, touched + entry.sidecar.ttlMs);
}

export class EntryIndex implements EntryTtlView {
  private readonly entries = new Map<string, IndexedEntry>();
  private bytes = 0;
  private state: IndexState = 'loading';
  /** Ids removed while the index was loading, which the loader must not bring back. */
  private removedWhileLoading: Set<string> | undefined = new Set();
  private loaded: Promise<void> = Promise.resolve();
  /** Adds and removals so far, and their number when the last snapshot was taken. */
  private changes = 0;
  private changesSnapshotted = -1;
  private saving: Promise<number | undefined> = Promise.resolve(undefined);
  private snapshotTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly disk: DiskStore,
    private readonly logger: Logger,
  ) {}

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
  get(id: string): IndexedEntry | undefined {
    return this.entries.get(id);
  }

  /**
   * The indexed entry, or while the index is loading, the entry as its sidecar on disk says
   * (which then joins the index).
   */
  async lookup(id: string): Promise<IndexedEntry | undefined> {
    const indexed = this.entries.get(id);
    if (indexed || this.state !== 'loading' || this.removedWhileLoading?.has(id)) return indexed;
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
    const loaded = this.entries.get(id);
    if (loaded || this.state !== 'loading' || this.removedWhileLoading?.has(id)) return loaded;
    const entry: IndexedEntry = { id, sidecar, lastAccessMs: sidecar.createdAtMs };
    this.add(entry);
    return entry;
  }

  add(entry: IndexedEntry): void {
    this.entries.set(entry.id, entry);
    this.bytes += entry.sidecar.size;
    this.changes++;
  }

  /** Takes the entry with `id` out of the index; a load still running will not bring it back. */
  remove(id: string): void {
    const entry = this.entries.get(id);
    if (entry && this.entries.delete(id)) {
      this.bytes -= entry.sidecar.size;
      this.changes++;
    }
    this.removedWhileLoading?.add(id);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  get size(): number {
    return this.entries.size;
  }

  idCursor(): IterableIterator<string> {
    return this.entries.keys();
  }

  ttlCheckDue(nowMs: number): string[] {
    const due: string[] = [];
    for (const entry of this.entries.values()) if (ttlDueMs(entry) <= nowMs) due.push(entry.id);
    return due;
  }

  noteTtlUntil(id: string, untilMs: number): void {
    const entry = this.entries.get(id);
    if (entry) entry.ttlKnownUntilMs = Math.max(entry.ttlKnownUntilMs ?? 0, untilMs);
  }

  values(): IterableIterator<IndexedEntry> {
    return this.entries.values();
  }

  /** Ids of the entries in the index (a snapshot). */
  ids(): string[] {
    return [...this.entries.keys()];
  }

  /** Entries and bytes held. */
  usage(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
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
    const matching = [...this.entries.values()]
      .filter(
        (e) =>
          (!query.jobId || e.sidecar.jobId === query.jobId) &&
          (query.checkpointId === undefined ||
            e.sidecar.checkpointIds.includes(query.checkpointId)) &&
          (after === undefined || e.sidecar.key > after),
      )
      .sort((a, b) => (a.sidecar.key < b.sidecar.key ? -1 : a.sidecar.key > b.sidecar.key ? 1 : 0));
    const page = matching.slice(0, pageSize);
    const last = page[page.length - 1];
    const nextPageToken =
      matching.length > pageSize && last
        ? Buffer.from(last.sidecar.key, 'utf8').toString('base64url')
        : '';
    return { page, nextPageToken };
  }

  /**
   * Writes the index snapshot (index-snapshot.ts) once the index is ready: always when `force`
   * (shutdown), else only if entries came or went since the last one. Snapshots never overlap.
   * Resolves to the entries written, undefined when none was written.
   */
  saveSnapshot(force: boolean): Promise<number | undefined> {
    const run = async (): Promise<number | undefined> => {
      if (this.state !== 'ready' || (!force && this.changes === this.changesSnapshotted)) {
        return undefined;
      }
      const changes = this.changes;
      const takenAtMs = this.disk.changesSettledBefore();
      const count = await writeSnapshot(this.disk.root, takenAtMs, this.idsInShardOrder(), (id) =>
        this.entries.get(id),
      );
      this.changesSnapshotted = changes;
      return count;
    };
    this.saving = this.saving.catch(() => undefined).then(run);
    return this.saving;
  }

  /** Saves a snapshot every `intervalMs` in which entries came or went (0: never). */
  startSnapshots(intervalMs: number): void {
    if (intervalMs <= 0) return;
    this.snapshotTimer = setInterval(() => {
      const started = Date.now();
      this.saveSnapshot(false).then(
        (entries) => {
          if (entries !== undefined) {
            this.logger.debug('index snapshot saved', { entries, ms: Date.now() - started });
          }
        },
        (error: unknown) => this.logger.warn('index snapshot not saved', { error }),
      );
    }, intervalMs);
    this.snapshotTimer.unref();
  }

  /** Stops the periodic snapshots and waits for one being written. */
  async stopSnapshots(): Promise<void> {
    if (this.snapshotTimer) clearInterval(this.snapshotTimer);
    this.snapshotTimer = undefined;
    await this.saving.catch(() => undefined);
  }

  /** Ids grouped by shard (their first two hex digits), shards in order, as the loader reads. */
  private *idsInShardOrder(): Generator<string> {
    const shards = new Map<string, string[]>();
    for (const id of this.entries.keys()) {
      const shard = id.slice(0, 2);
      let ids = shards.get(shard);
      if (!ids) shards.set(shard, (ids = []));
      ids.push(id);
    }
    for (const shard of [...shards.keys()].sort()) yield* shards.get(shard)!;
  }

  /** The snapshot to start from, or undefined (none, or unusable: said once, at warn). */
  private openSnapshot(): SnapshotReader | undefined {
    const file = path.join(this.disk.root, SNAPSHOT_FILE);
    try {
      return new SnapshotReader(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      const why = error instanceof UnusableSnapshot ? error.message : String(error);
      this.logger.warn('index snapshot ignored; every sidecar is read instead', { file, why });
      return undefined;
    }
  }

  private async load(): Promise<void> {
    const started = Date.now();
    const root = this.disk.root;
    const snapshot = this.openSnapshot();
    try {
      let reading = !!snapshot;
      const known: KnownEntries | undefined = snapshot && {
        takenAtMs: snapshot.takenAtMs,
        nextOfShard: (shard) => {
          if (!reading) return undefined;
          try {
            return snapshot.nextOfShard(shard);
          } catch (error) {
            // Its CRC32C held, so a bad record is a writer's bug: what is left is read the slow way.
            reading = false;
            this.logger.warn('index snapshot ignored from here on; the sidecars are read', {
              error,
            });
            return undefined;
          }
        },
      };
      const {
        loaded,
        known: fromSnapshot,
        problems,
      } = await this.disk.loadAll((entry) => {
        const { id, sidecar } = entry;
        if (this.entries.has(id) || this.removedWhileLoading?.has(id)) return;
        this.add({ id, sidecar, lastAccessMs: entry.lastAccessMs ?? sidecar.createdAtMs });
      }, known);
      for (const problem of problems) {
        this.logger.warn('unusable entry file removed at start-up', {
          file: problem.file,
          error: problem.error,
        });
      }
      this.state = 'ready';
      this.logger.info('cache index loaded', {
        entries: loaded,
        fromSnapshot,
        bytes: this.bytes,
        ms: Date.now() - started,
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
