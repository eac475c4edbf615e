/**
 * The node's cache: which entries this node holds, their bytes on disk and their metadata. A
 * facade over the parts that each do one job (EntryIndex, EntryWrites, Eviction and Leases,
 * VerifiedReader, DiskStore): it owns the per-entry locks, so every change to one entry is
 * serialised here, and the rules for reads, references, expiry, release and quarantine.
 * Never: gRPC, Redis clients or process start-up.
 * (Near 550 lines: one short method per operation of the service, each taking the entry's lock
 * and delegating; splitting further would spread one entry's locking rules over several files.)
 *
 * Writes fail cleanly when the metadata store is down (an entry on disk that Redis does not know
 * could never expire): at their start when the outage is known, else when the entry is
 * registered. Reads and stats keep being served from the index, with TTL touches dropped.
 */
import { formatCrc32c } from '@checkpoint-cache/checksum';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { silentLogger, type Logger } from '@checkpoint-cache/logger';
import { BlockBufferPool } from './block-buffer-pool';
import { Capacity, type CapacityLimits } from './capacity';
import {
  CHUNK_HEADROOM,
  DEFAULT_BLOCK_SIZE,
  DEFAULT_LEASE_MS,
  DEFAULT_PAGE_SIZE,
  MAX_LEASE_MS,
  MAX_PAGE_SIZE,
  type AdoptableFile,
  type CacheObserver,
  type EntryInfo,
  type EntryLease,
  type EntryReader,
  type EntryWriter,
  type IndexState,
  type ListQuery,
  type ReadRange,
  type RemovalReason,
  type WriteSpec,
} from './cache-types';
import { DiskFull } from './disk-full';
import { DiskStore, isNotFound } from './disk-store';
import { entryProblem } from './entry-check';
import {
  EntryIndex,
  entryInfoOf,
  sameEntry,
  entryMetadataOf,
  type EntryTtlView,
  type IndexedEntry,
} from './entry-index';
import { EntryWrites, withReference } from './entry-writes';
import { GroupCommit } from './group-commit';
import {
  entryIdOf,
  validateCount,
  validateJobId,
  validateKey,
  validateKeyPrefix,
} from './entry-key';
import { Eviction, Leases } from './eviction';
import { KeyedMutex } from './keyed-mutex';
import { OpenFiles, type LentHandle } from './open-files';
import type { PackUsage } from './pack-store';
import type { MetadataStore } from './metadata-store';
import { TouchBatcher } from './touch-batcher';
import { READ_SPAN, VerifiedReader } from './verified-reader';
import type { WholeEntry, WholeOutcome } from './whole-writes';

export interface NodeCacheOptions {
  /** Cache root: holds entries/, tmp/. */
  root: string;
  nodeId: string;
  metadata: MetadataStore;
  /** TTL of entries written without one. */
  defaultTtlMs: number;
  logger?: Logger;
  /** Block size of new entries; existing entries keep theirs. */
  blockSize?: number;
  /**
   * Entries of at most this many bytes are written packed several to a file (pack-store.ts):
   * issue #16's thousands of small writes a second. 0 or absent: every entry has its own files.
   */
  packMaxBytes?: number;
  /** Data files kept open for reads (default DEFAULT_OPEN_FILES); 0 opens and closes per read. */
  openFiles?: number;
  /** Capacity limits; writes evict least recently used entries to stay within them. */
  limits?: CapacityLimits;
  /** Told about every entry removal (metrics). */
  observer?: CacheObserver;
  /**
   * How often the index snapshot is saved while entries come and go (default 5 min; 0: only at
   * close). A crash reads the sidecars of what changed since the last one (index-snapshot.ts).
   */
  snapshotIntervalMs?: number;
}

const DEFAULT_SNAPSHOT_INTERVAL_MS = 5 * 60_000;

/** Longest a read's TTL touch may be coalesced into the previous one of the same entry. */
const TOUCH_COALESCE_MAX_MS = 1000;

export class NodeCache {
  private readonly index: EntryIndex;
  private readonly locks = new KeyedMutex();
  private readonly disk: DiskStore;
  private readonly diskFull: DiskFull;
  private readonly logger: Logger;
  private readonly touches: TouchBatcher;
  private readonly blockSize: number;
  private readonly capacity: Capacity;
  private readonly eviction: Eviction;
  private readonly writes: EntryWrites;
  /** Read buffers shared by all reads. */
  private readonly readBuffers = new BlockBufferPool(CHUNK_HEADROOM + READ_SPAN, 256);
  /** Data files of recently read entries, kept open; forgotten before an entry's file goes. */
  private readonly openFiles: OpenFiles;
  /** Leased entries are not evicted. */
  private readonly leases = new Leases();
  /** Whole-file checks running for reportCorrupt, one per entry (by id, with the entry checked). */
  private readonly verifications = new Map<
    string,
    { entry: IndexedEntry; running: Promise<string | undefined> }
  >();

  private constructor(readonly options: NodeCacheOptions) {
    this.disk = new DiskStore(options.root);
    this.logger = options.logger ?? silentLogger;
    this.diskFull = new DiskFull(options.root, this.logger);
    this.touches = new TouchBatcher(options.metadata, this.logger);
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.capacity = new Capacity(options.root, options.limits ?? {});
    this.openFiles = new OpenFiles(options.openFiles);
    this.index = new EntryIndex(this.disk, this.logger);
    this.eviction = new Eviction({
      index: this.index,
      capacity: this.capacity,
      leases: this.leases,
      metadata: options.metadata,
      usage: () => this.heldUsage(),
      packFileBytes: (pack) => this.disk.packs.fileBytesOf(pack),
      remove: (id, reason, still) => this.remove(id, reason, still),
    });
    this.writes = new EntryWrites({
      nodeId: options.nodeId,
      disk: this.disk,
      diskFull: this.diskFull,
      index: this.index,
      locks: this.locks,
      metadata: options.metadata,
      groups: new GroupCommit(this.disk, options.metadata),
      capacity: this.capacity,
      blockSize: this.blockSize,
      packMaxBytes: options.packMaxBytes ?? 0,
      defaultTtlMs: options.defaultTtlMs,
      makeRoom: (key, bytes, entries) => this.makeRoom(key, bytes, entries),
      forgetOpenFile: (id) => this.openFiles.forget(id),
    });
  }

  /**
   * Prepares the cache root and sweeps interrupted writes, then returns while the index is still
   * being rebuilt from sidecars in the background: reads and stats are served at once (looking at
   * the disk directly until the index is ready); listing, release and capacity decisions wait
   * for it (see whenIndexReady).
   */
  static async open(options: NodeCacheOptions): Promise<NodeCache> {
    const cache = new NodeCache(options);
    await cache.disk.init();
    cache.index.startLoading();
    cache.index
      .whenReady()
      .then(() =>
        cache.index.startSnapshots(options.snapshotIntervalMs ?? DEFAULT_SNAPSHOT_INTERVAL_MS),
      )
      .catch(() => undefined);
    return cache;
  }

  /** 'loading' until every sidecar has been read, then 'ready' ('failed' if reading failed). */
  get indexStatus(): IndexState {
    return this.index.status;
  }

  /** Resolves when the index is complete; rejects if it could not be read. */
  whenIndexReady(): Promise<void> {
    return this.index.whenReady();
  }

  /** Ids of the entries in the index (a snapshot). */
  entryIds(): string[] {
    return this.index.ids();
  }

  /** The index as reconcile reads it: due TTL checks, what Redis said, membership. */
  get ttlView(): EntryTtlView {
    return this.index;
  }

  /**
   * Handles the expiry of an entry's TTL key. An entry this agent served within its TTL (a touch
   * may have been dropped while Redis was unreachable) is registered again instead; otherwise the
   * expiry is claimed atomically in the metadata store (a touch that raced it wins), the files are
   * removed, then the metadata. Rejects, deleting nothing, when the store is unreachable.
   */
  async expire(id: string): Promise<'deleted' | 'revived' | 'kept'> {
    return this.locks.run(id, async () => {
      const entry = await this.lookup(id);
      if (entry && entry.lastAccessMs + entry.sidecar.ttlMs > Date.now()) {
        await this.options.metadata.register(entryMetadataOf(entry));
        this.logger.info('expired entry kept: it was read within its TTL', {
          key: entry.sidecar.key,
        });
        return 'revived';
      }
      if (!(await this.options.metadata.claimExpired(id))) return 'kept';
      if (entry) await this.removeLocal(entry, 'ttl');
      await this.options.metadata.remove(id);
      this.logger.debug('entry expired', { id, key: entry?.sidecar.key });
      return 'deleted';
    });
  }

  /**
   * Registers a local entry that the metadata store does not know (it restarted without its
   * data, or a registration was lost), with a fresh TTL. False when the entry is gone.
   */
  async reregister(id: string): Promise<boolean> {
    return this.locks.run(id, async () => {
      const entry = await this.lookup(id);
      if (!entry) return false;
      await this.options.metadata.register(entryMetadataOf(entry));
      return true;
    });
  }

  /** Removes the metadata of an entry that is not on this node's disk. False when it is. */
  async forgetIfAbsent(id: string): Promise<boolean> {
    return this.locks.run(id, async () => {
      if (await this.lookup(id)) return false;
      await this.options.metadata.remove(id);
      return true;
    });
  }

  get nodeId(): string {
    return this.options.nodeId;
  }

  /** Entries and bytes held. */
  usage(): { entries: number; bytes: number } {
    return this.index.usage();
  }

  /**
   * What the capacity limits count: the entries, and the bytes the cache holds for them on disk,
   * which besides their own include those their packs keep of entries removed since (until the
   * pack's last entry goes) and the packs' headers.
   */
  heldUsage(): { entries: number; bytes: number } {
    const { entries, bytes } = this.index.usage();
    const packs = this.disk.packs.usage();
    return { entries, bytes: bytes + Math.max(0, packs.fileBytes - packs.liveBytes) };
  }

  /** What packs hold on disk (pack-store.ts), removed entries' bytes included until a pack goes. */
  packUsage(): PackUsage {
    return this.disk.packs.usage();
  }

  async openRead(key: string, range: ReadRange): Promise<EntryReader> {
    // A key deleted (and perhaps written again) while its file was opened is looked up once more.
    const reader = (await this.tryOpenRead(key, range)) ?? (await this.tryOpenRead(key, range));
    if (!reader) throw this.notFound(key);
    return reader;
  }

  /** undefined when the entry left the index while its file was being opened. */
  private async tryOpenRead(key: string, range: ReadRange): Promise<EntryReader | undefined> {
    const entry = await this.require(key);
    const size = entry.sidecar.size;
    validateCount('offset', range.offset);
    if (range.length !== undefined) validateCount('length', range.length);
    if (range.offset > size) {
      throw new CacheError(
        ErrorCode.InvalidArgument,
        `offset ${range.offset} is past the end of ${key} (${size} bytes)`,
      );
    }
    const length = range.length ?? size - range.offset;
    if (range.offset + length > size) {
      throw new CacheError(
        ErrorCode.InvalidArgument,
        `range ${range.offset}+${length} is past the end of ${key} (${size} bytes)`,
      );
    }
    let lent: LentHandle;
    try {
      lent = await this.openFiles.acquire(
        openFileKey(entry),
        this.disk.fileOf(entry.id, entry.pack),
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // Removed between the index look-up and the open (expiry, delete): a plain miss.
      throw this.notFound(key);
    }
    if (!this.index.isCurrent(entry)) {
      // Removed (and its handle forgotten) while the file was being opened: this handle may be
      // to the unlinked file and must not stay cached for the next entry under the same key.
      this.openFiles.forget(openFileKey(entry));
      lent.release();
      return undefined;
    }
    this.touchLater(entry);
    return new VerifiedReader({
      handle: lent.handle,
      onClose: lent.release,
      entry: this.info(entry),
      blockSize: entry.sidecar.blockSize,
      blockCrcs: entry.sidecar.blockCrcs,
      offset: range.offset,
      length,
      fileOffset: entry.pack?.offset ?? 0,
      onCorrupt: async (detail) => {
        await this.quarantine(entry, detail);
      },
      pool: this.readBuffers,
    });
  }

  /** Starts writing an entry, or adopting a file's bytes (see EntryWrites.begin). */
  beginWrite(spec: WriteSpec, adopt?: AdoptableFile): Promise<EntryWriter> {
    return this.writes.begin(spec, adopt);
  }

  /**
   * Stores the small new entries among `entries` on WriteBatch's fast road (whole-writes.ts);
   * undefined for each entry to be written with beginWrite instead.
   */
  writeWhole(
    entries: readonly WholeEntry[],
    refusal: () => unknown,
  ): Promise<(WholeOutcome | undefined)[]> {
    return this.writes.writeWhole(entries, refusal);
  }

  /**
   * Leases an entry to a client on this node that reads the file itself: protects it from
   * eviction until the lease ends, and counts as a read (touch). A packed entry only to a client
   * that reads from `fileOffset` (`acceptOffset`); any other is refused (FAILED_PRECONDITION).
   */
  async lease(key: string, durationMs = 0, acceptOffset = false): Promise<EntryLease> {
    validateCount('duration_ms', durationMs);
    if (durationMs > MAX_LEASE_MS) {
      throw new CacheError(
        ErrorCode.InvalidArgument,
        `duration_ms ${durationMs} is over the limit of ${MAX_LEASE_MS} (1 hour); lease again to extend`,
      );
    }
    const entry = await this.require(key);
    if (entry.pack && !acceptOffset) {
      throw new CacheError(
        ErrorCode.FailedPrecondition,
        `${key} shares its file with other small entries; a client that reads it directly must ` +
          'lease with accept_offset and read from data_offset, else read it with Read',
      );
    }
    const expiresAtMs = Date.now() + (durationMs || DEFAULT_LEASE_MS);
    this.leases.grant(entry.id, expiresAtMs);
    this.touchLater(entry);
    return {
      entry: this.info(entry),
      cacheRoot: this.options.root,
      relativePath: this.disk.relativeFileOf(entry.id, entry.pack),
      fileOffset: entry.pack?.offset ?? 0,
      blockSize: entry.sidecar.blockSize,
      blockCrcs: entry.sidecar.blockCrcs,
      expiresAtMs,
    };
  }

  async stat(key: string, options: { touch: boolean }): Promise<EntryInfo> {
    const entry = await this.require(key);
    if (options.touch) this.touchLater(entry);
    return this.info(entry);
  }

  /**
   * Resets an entry's TTL now (not batched: the caller asked for exactly this), optionally adding
   * a checkpoint reference or changing the TTL. Rejects with Unavailable when the metadata store
   * is down.
   */
  async touch(key: string, options: { checkpointId?: number; ttlMs?: number }): Promise<EntryInfo> {
    validateKey(key);
    if (options.checkpointId !== undefined) validateCount('checkpoint_id', options.checkpointId);
    if (options.ttlMs !== undefined) validateCount('ttl_ms', options.ttlMs);
    const id = entryIdOf(key);
    return this.locks.run(id, async () => {
      const entry = await this.require(key);
      const now = Date.now();
      const changed = withReference(entry.sidecar, options.checkpointId, options.ttlMs);
      if (changed !== entry.sidecar) {
        await this.diskFull.guard(key, () => this.disk.rewriteSidecar(id, changed, entry.pack));
        entry.sidecar = changed;
        entry.lastAccessMs = now;
        // A shorter TTL may end the key before what Redis said of the old one.
        entry.ttlKnownUntilMs = undefined;
        await this.options.metadata.register(entryMetadataOf(entry));
      } else {
        entry.lastAccessMs = now;
        await this.options.metadata.touch([{ id, ttlMs: entry.sidecar.ttlMs, atMs: now }]);
      }
      return this.info(entry);
    });
  }

  /** Removes an entry; false when it was not cached. Reads already streaming it finish. */
  async delete(key: string): Promise<boolean> {
    validateKey(key);
    return this.remove(entryIdOf(key), 'delete');
  }

  /**
   * Removes entry `id` if its copy was made at or before `madeBeforeMs` (a delete notice from
   * another node; see ClusterDelete); false when nothing was removed.
   */
  async deleteMadeBefore(id: string, madeBeforeMs: number): Promise<boolean> {
    return this.remove(id, 'delete', (e) => e.sidecar.createdAtMs <= madeBeforeMs);
  }

  /**
   * Removes every entry whose key starts with `prefix` (a directory, see validateKeyPrefix) and,
   * when `madeBeforeMs` is given, whose copy was made at or before it (a notice from another node).
   * Each entry is checked again under its own lock. Returns what was removed.
   */
  async deletePrefix(
    prefix: string,
    madeBeforeMs?: number,
  ): Promise<{ entries: number; bytes: number }> {
    validateKeyPrefix(prefix);
    await this.index.whenReady();
    const doomed = (e: IndexedEntry): boolean =>
      e.sidecar.key.startsWith(prefix) &&
      (madeBeforeMs === undefined || e.sidecar.createdAtMs <= madeBeforeMs);
    let entries = 0;
    let bytes = 0;
    for (const e of [...this.index.values()].filter(doomed)) {
      if (await this.remove(e.id, 'delete', doomed)) {
        entries++;
        bytes += e.sidecar.size;
      }
    }
    return { entries, bytes };
  }

  async list(query: ListQuery): Promise<{ entries: EntryInfo[]; nextPageToken: string }> {
    const pageSize = query.pageSize || DEFAULT_PAGE_SIZE;
    if (pageSize > MAX_PAGE_SIZE) {
      throw new CacheError(
        ErrorCode.InvalidArgument,
        `page_size ${pageSize} is over the limit of ${MAX_PAGE_SIZE}`,
      );
    }
    if (query.checkpointId !== undefined && !query.jobId) {
      throw new CacheError(ErrorCode.InvalidArgument, 'checkpoint_id filter needs a job_id');
    }
    await this.index.whenReady();
    const { page, nextPageToken } = this.index.page(query, pageSize);
    return { entries: page.map((e) => this.info(e)), nextPageToken };
  }

  /**
   * Removes the job's entries whose every checkpoint reference is below `belowCheckpointId`, or all
   * of the job's entries when it is absent.
   */
  async release(spec: {
    jobId: string;
    belowCheckpointId?: number;
  }): Promise<{ entries: number; bytes: number }> {
    if (!spec.jobId) throw new CacheError(ErrorCode.InvalidArgument, 'job_id is empty');
    validateJobId(spec.jobId);
    const below = spec.belowCheckpointId;
    if (below !== undefined) validateCount('below_checkpoint_id', below);
    await this.index.whenReady();
    const isDoomed = (e: IndexedEntry): boolean =>
      e.sidecar.jobId === spec.jobId &&
      (below === undefined || e.sidecar.checkpointIds.every((c) => c < below));
    const doomed = [...this.index.values()].filter(isDoomed);
    let entries = 0;
    let bytes = 0;
    for (const e of doomed) {
      // Checked again under the entry's lock: a newer checkpoint may have referenced it since.
      if (await this.remove(e.id, 'release', isDoomed)) {
        entries++;
        bytes += e.sidecar.size;
      }
    }
    return { entries, bytes };
  }

  /**
   * Sends pending touches and saves the index snapshot; waits for the index load so no file is
   * read after close.
   */
  async close(): Promise<void> {
    await this.index.whenReady().catch(() => undefined);
    await this.index.stopSnapshots();
    const started = Date.now();
    try {
      const written = await this.index.saveSnapshot(true);
      if (written !== undefined) {
        this.logger.info('index snapshot saved', { ...written, ms: Date.now() - started });
      }
    } catch (error) {
      this.logger.warn('index snapshot not saved; the next start reads every sidecar', { error });
    }
    await this.touches.flush();
    await this.openFiles.closeAll();
  }

  /** Removes an entry (if `still` agrees, under the entry's lock); false when nothing was removed. */
  private async remove(
    id: string,
    reason: RemovalReason,
    still?: (entry: IndexedEntry) => boolean,
  ): Promise<boolean> {
    return this.locks.run(id, async () => {
      const entry = await this.lookup(id);
      if (!entry || (still && !still(entry))) return false;
      await this.removeLocal(entry, reason);
      try {
        await this.options.metadata.remove(id);
      } catch (error) {
        // The file is gone; the stale record expires with its TTL key and is cleaned then.
        this.logger.warn('entry metadata not removed', { id, reason, error });
      }
      this.logger.debug('entry removed', { key: entry.sidecar.key, reason });
      return true;
    });
  }

  /** Reserves room for a write, evicting idle entries if needed (see Eviction). */
  private async makeRoom(key: string, bytes: number, entries: number): Promise<void> {
    // Usage is only known once every sidecar has been counted.
    await this.index.whenReady();
    await this.locks.run('capacity', () => this.eviction.makeRoom(key, bytes, entries));
  }

  /** Takes an entry out of the index, then off the disk. Caller holds the entry's lock. */
  private async removeLocal(entry: IndexedEntry, reason: RemovalReason): Promise<void> {
    // Read before the removal: a ref keeps what it has read once its entry is gone.
    const { size } = entry.sidecar;
    this.index.remove(entry.id);
    this.leases.forget(entry.id);
    this.openFiles.forget(openFileKey(entry));
    await this.disk.remove(entry.id, entry.pack && { place: entry.pack, size });
    this.options.observer?.entryRemoved(reason, size);
  }

  private lookup(id: string): Promise<IndexedEntry | undefined> {
    return this.index.lookup(id);
  }

  /** Deletes `entry` for failing its checksums; a newer entry under the same key is left alone. */
  private async quarantine(entry: IndexedEntry, detail: string): Promise<boolean> {
    this.logger.error('corrupt entry deleted', { key: entry.sidecar.key, id: entry.id, detail });
    return this.remove(entry.id, 'corruption', (current) => sameEntry(current, entry));
  }

  /**
   * A client read the entry described with `entryCrc32c` and the CRC32C of all its bytes came out
   * different. A `trusted` reporter (one that may change the cache anyway) has the entry removed at
   * once; for any other the entry is first checked here (every block, and the blocks against the
   * whole), so a client that may only read cannot delete healthy entries. True when removed.
   */
  async reportCorrupt(key: string, entryCrc32c: number, trusted: boolean): Promise<boolean> {
    validateKey(key);
    const entry = await this.lookup(entryIdOf(key));
    if (!entry || entry.sidecar.crc32c !== entryCrc32c >>> 0) return false;
    const detail = trusted
      ? `a client computed another whole-entry CRC32C than ${formatCrc32c(entryCrc32c)}`
      : await this.verifyOnce(entry);
    return detail === undefined ? false : this.quarantine(entry, detail);
  }

  /** verifyEntry, shared by concurrent reports of the same entry. */
  private verifyOnce(entry: IndexedEntry): Promise<string | undefined> {
    const shared = this.verifications.get(entry.id);
    if (shared && sameEntry(shared.entry, entry)) return shared.running;
    const file = this.disk.fileOf(entry.id, entry.pack);
    const fileOffset = entry.pack?.offset ?? 0;
    const running = entryProblem(entry.id, file, entry.sidecar, fileOffset).finally(() => {
      if (this.verifications.get(entry.id)?.running === running) {
        this.verifications.delete(entry.id);
      }
    });
    this.verifications.set(entry.id, { entry, running });
    return running;
  }

  private async require(key: string): Promise<IndexedEntry> {
    validateKey(key);
    const entry = await this.lookup(entryIdOf(key));
    if (!entry) throw this.notFound(key);
    return entry;
  }

  private notFound(key: string): CacheError {
    return new CacheError(
      ErrorCode.NotFound,
      `${key} is not cached on node ${this.options.nodeId}; read it from the remote store`,
    );
  }

  /**
   * Records the access and queues a TTL touch, unless one was queued for the entry less than
   * min(1 s, 1 % of its TTL) ago: a hot entry read thousands of times a second costs Redis one
   * touch a second. The Redis TTL may then lapse up to that much early; the expiry handler keeps an
   * entry read within its TTL (lastAccessMs is always current), so nothing is lost.
   */
  private touchLater(entry: IndexedEntry): void {
    const now = Date.now();
    entry.lastAccessMs = now;
    const window = Math.min(TOUCH_COALESCE_MAX_MS, entry.sidecar.ttlMs / 100);
    if (entry.touchQueuedMs !== undefined && now - entry.touchQueuedMs < window) return;
    entry.touchQueuedMs = now;
    this.touches.touch({ id: entry.id, ttlMs: entry.sidecar.ttlMs, atMs: now });
  }

  private info(entry: IndexedEntry): EntryInfo {
    return entryInfoOf(entry, this.options.nodeId);
  }
}

/**
 * The key an entry's open file is cached under: its id, and its pack when it has one. An entry
 * removed and written again may be in another pack, at another offset: a handle opened on the old
 * one must never serve the new one.
 */
function openFileKey(entry: IndexedEntry): string {
  return entry.pack ? `${entry.id}@${entry.pack.pack}` : entry.id;
}
