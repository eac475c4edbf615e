/**
 * The node's cache: which entries this node holds, their bytes on disk and their metadata.
 * Owns: the in-memory index (rebuilt from sidecars at start), the rules for writes, reads,
 * references and release. Never: gRPC, Redis clients or process start-up.
 *
 * Writes fail cleanly when the metadata store is down (an entry on disk that Redis does not know
 * could never expire): at their start when the outage is known, else when the entry is
 * registered. Reads and stats keep being served from the index, with TTL touches dropped.
 */
import { promises as fs } from 'node:fs';
import { checkBlocks, formatCrc32c } from '@checkpoint-cache/checksum';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { silentLogger, type Logger } from '@checkpoint-cache/logger';
import { BlockBufferPool } from './block-buffer-pool';
import { Capacity, chooseVictims, type CapacityLimits } from './capacity';
import { DiskFull } from './disk-full';
import { DiskStore, isNotFound } from './disk-store';
import { entryIdOf, validateCount, validateJobId, validateKey } from './entry-key';
import { KeyedMutex } from './keyed-mutex';
import { OpenFiles, type LentHandle } from './open-files';
import type { EntryMetadata, MetadataStore } from './metadata-store';
import { SIDECAR_VERSION, sidecarProblem, type Sidecar } from './sidecar';
import { StagedWrite } from './staged-write';
import { TouchBatcher } from './touch-batcher';
import { READ_SPAN, VerifiedReader } from './verified-reader';

/** Bytes covered by one stored CRC32C in new entries unless configured (the agent's --block-size). */
export const DEFAULT_BLOCK_SIZE = 64 * 1024;
export const DEFAULT_PAGE_SIZE = 100;
export const DEFAULT_LEASE_MS = 60_000;
export const MAX_LEASE_MS = 3_600_000;
export const MAX_PAGE_SIZE = 1000;

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
  /** Data files kept open for reads (default DEFAULT_OPEN_FILES); 0 opens and closes per read. */
  openFiles?: number;
  /** Capacity limits; writes evict least recently used entries to stay within them. */
  limits?: CapacityLimits;
  /** Told about every entry removal (metrics). */
  observer?: CacheObserver;
}

/** Why an entry left the cache. */
export type RemovalReason = 'ttl' | 'lru' | 'release' | 'corruption' | 'delete';

export interface CacheObserver {
  entryRemoved(reason: RemovalReason, bytes: number): void;
}

export type EntryInfo = EntryMetadata & { nodeId: string };

export interface ReadRange {
  offset: number;
  /** Absent: to the end. */
  length?: number;
}

export interface WriteSpec {
  key: string;
  jobId: string;
  /** 0: no checkpoint. */
  checkpointId: number;
  size?: number;
  crc32c?: number;
  /** 0 or absent: the default TTL. */
  ttlMs?: number;
}

/** Free bytes a reader leaves in front of each disk read's bytes, for a message header. */
export const CHUNK_HEADROOM = 32;

/** A verified chunk of an entry. */
export interface VerifiedChunk {
  offset: number;
  data: Buffer;
  crc32c: number;
  /**
   * Bytes before `data` in its ArrayBuffer that belong to nobody else and may be overwritten
   * (CHUNK_HEADROOM for a chunk that starts a disk read, else 0).
   */
  headroom: number;
  /** When set, call it once `data` is no longer needed (written to the socket): reuses it. */
  release?: (() => void) | undefined;
}

export interface EntryReader {
  readonly entry: EntryInfo;
  readonly offset: number;
  readonly length: number;
  /**
   * Verified chunks of at most `maxChunkSize` bytes covering the range, in order. Throws
   * CacheError(DataLoss) on a checksum mismatch (after deleting the entry).
   */
  chunks(maxChunkSize: number): AsyncIterable<VerifiedChunk>;
  close(): Promise<void>;
}

export interface EntryWriter {
  /** Appends bytes; `offset` must equal the bytes written so far; `crc32c` is checked if given. */
  append(offset: number, data: Buffer, crc32c?: number): Promise<void>;
  /** Verifies, publishes and registers the entry. */
  commit(): Promise<{ entry: EntryInfo; created: boolean }>;
  /** Discards everything written; safe to call more than once and after commit. */
  abort(): Promise<void>;
}

/** What a same-node client needs to read and verify an entry's file itself. */
export interface EntryLease {
  entry: EntryInfo;
  cacheRoot: string;
  relativePath: string;
  blockSize: number;
  blockCrcs: Uint32Array;
  expiresAtMs: number;
}

export interface ListQuery {
  jobId?: string;
  checkpointId?: number;
  pageSize?: number;
  pageToken?: string;
}

export type IndexState = 'loading' | 'ready' | 'failed';

interface IndexedEntry {
  id: string;
  sidecar: Sidecar;
  lastAccessMs: number;
  /** When the last read or stat queued a TTL touch of this entry (see touchLater). */
  touchQueuedMs?: number;
}

/** Longest a read's TTL touch may be coalesced into the previous one of the same entry. */
const TOUCH_COALESCE_MAX_MS = 1000;

export class NodeCache {
  private readonly index = new Map<string, IndexedEntry>();
  private readonly locks = new KeyedMutex();
  private readonly disk: DiskStore;
  private readonly diskFull: DiskFull;
  private readonly logger: Logger;
  private readonly touches: TouchBatcher;
  private readonly blockSize: number;
  private readonly capacity: Capacity;
  private heldBytes = 0;
  /** Read buffers shared by all reads. */
  private readonly readBuffers = new BlockBufferPool(CHUNK_HEADROOM + READ_SPAN, 256);
  /** Data files of recently read entries, kept open; forgotten before an entry's file goes. */
  private readonly openFiles: OpenFiles;
  /** Entry id -> end of its lease (ms since the epoch); leased entries are not evicted. */
  private readonly leases = new Map<string, number>();
  private indexState: IndexState = 'loading';
  /** Ids removed while the index was loading, which the loader must not bring back. */
  private removedWhileLoading: Set<string> | undefined = new Set();
  private indexLoaded: Promise<void> = Promise.resolve();
  /** Whole-file checks running for reportCorrupt, one per entry. */
  private readonly verifications = new Map<IndexedEntry, Promise<string | undefined>>();

  private constructor(readonly options: NodeCacheOptions) {
    this.disk = new DiskStore(options.root);
    this.logger = options.logger ?? silentLogger;
    this.diskFull = new DiskFull(options.root, this.logger);
    this.touches = new TouchBatcher(options.metadata, this.logger);
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.capacity = new Capacity(options.root, options.limits ?? {});
    this.openFiles = new OpenFiles(options.openFiles);
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
    cache.indexLoaded = cache.loadIndex();
    // Logged in loadIndex; callers that need the index see the rejection themselves.
    cache.indexLoaded.catch(() => undefined);
    return cache;
  }

  /** 'loading' until every sidecar has been read, then 'ready' ('failed' if reading failed). */
  get indexStatus(): IndexState {
    return this.indexState;
  }

  /** Resolves when the index is complete; rejects if it could not be read. */
  whenIndexReady(): Promise<void> {
    return this.indexLoaded;
  }

  private async loadIndex(): Promise<void> {
    const started = Date.now();
    try {
      const { loaded, problems } = await this.disk.loadAll(({ id, sidecar }) => {
        if (this.index.has(id) || this.removedWhileLoading?.has(id)) return;
        this.addToIndex({ id, sidecar, lastAccessMs: sidecar.createdAtMs });
      });
      for (const problem of problems) {
        this.logger.warn('unusable entry file removed at start-up', {
          file: problem.file,
          error: problem.error,
        });
      }
      this.indexState = 'ready';
      this.logger.info('cache index loaded', {
        entries: loaded,
        bytes: this.heldBytes,
        ms: Date.now() - started,
        root: this.options.root,
      });
    } catch (error) {
      this.indexState = 'failed';
      this.logger.error('cache index could not be loaded', { root: this.options.root, error });
      throw error;
    } finally {
      this.removedWhileLoading = undefined;
    }
  }

  /** Ids of the entries in the index (a snapshot). */
  entryIds(): string[] {
    return [...this.index.keys()];
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
        await this.options.metadata.register(this.metadataOf(entry));
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
      await this.options.metadata.register(this.metadataOf(entry));
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
    return { entries: this.index.size, bytes: this.heldBytes };
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
      lent = await this.openFiles.acquire(entry.id, this.disk.dataPath(entry.id));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // Removed between the index look-up and the open (expiry, delete): a plain miss.
      throw this.notFound(key);
    }
    if (this.index.get(entry.id) !== entry) {
      // Removed (and its handle forgotten) while the file was being opened: this handle may be
      // to the unlinked file and must not stay cached for the next entry under the same key.
      this.openFiles.forget(entry.id);
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
      onCorrupt: async (detail) => {
        await this.quarantine(entry, detail);
      },
      pool: this.readBuffers,
    });
  }

  async beginWrite(spec: WriteSpec): Promise<EntryWriter> {
    validateKey(spec.key);
    validateJobId(spec.jobId);
    validateCount('checkpoint_id', spec.checkpointId);
    if (spec.size !== undefined) validateCount('size', spec.size);
    if (spec.ttlMs !== undefined) validateCount('ttl_ms', spec.ttlMs);
    // Known now, so the client is told before it sends the bytes, not after they are on disk.
    // An outage that starts during the write is caught when commit registers the entry.
    if (!this.options.metadata.isAvailable()) {
      throw new CacheError(
        ErrorCode.Unavailable,
        `${spec.key} is not stored: Redis is unreachable, and an entry it does not know could ` +
          'never expire. Writes are refused until it is back; read this file from the remote store',
      );
    }
    const id = entryIdOf(spec.key);
    const existing = await this.lookup(id);
    if (existing) this.checkSameContent(existing, spec.key, spec.size, spec.crc32c);
    // Room for the announced size (or for the entry alone, growing with each chunk) is reserved
    // up front, so concurrent writes cannot overshoot the limits together.
    let reservedBytes = spec.size ?? 0;
    let reservedEntries = 1;
    await this.makeRoom(spec.key, reservedBytes, reservedEntries);
    const releaseReservation = (): void => {
      this.capacity.release(reservedBytes, reservedEntries);
      reservedBytes = 0;
      reservedEntries = 0;
    };
    let staged: StagedWrite;
    try {
      const temp = await this.diskFull.guard(spec.key, () => this.disk.createTemp());
      staged = new StagedWrite(temp, this.blockSize, spec.size);
    } catch (err) {
      releaseReservation();
      throw err;
    }
    return {
      append: async (offset, data, crc) => {
        if (spec.size === undefined && data.length > 0) {
          await this.makeRoom(spec.key, data.length, 0);
          reservedBytes += data.length;
        }
        await this.diskFull.guard(spec.key, () => staged.append(offset, data, crc));
      },
      commit: () =>
        this.diskFull
          .guard(spec.key, () => this.commit(id, spec, staged))
          .finally(releaseReservation),
      abort: async () => {
        releaseReservation();
        await staged.discard();
      },
    };
  }

  /**
   * Leases an entry to a client on this node that reads the file itself: protects it from
   * eviction until the lease ends, and counts as a read (touch).
   */
  async lease(key: string, durationMs = 0): Promise<EntryLease> {
    validateCount('duration_ms', durationMs);
    if (durationMs > MAX_LEASE_MS) {
      throw new CacheError(
        ErrorCode.InvalidArgument,
        `duration_ms ${durationMs} is over the limit of ${MAX_LEASE_MS} (1 hour); lease again to extend`,
      );
    }
    const entry = await this.require(key);
    const expiresAtMs = Date.now() + (durationMs || DEFAULT_LEASE_MS);
    this.leases.set(entry.id, Math.max(expiresAtMs, this.leases.get(entry.id) ?? 0));
    this.touchLater(entry);
    return {
      entry: this.info(entry),
      cacheRoot: this.options.root,
      relativePath: this.disk.relativeDataPath(entry.id),
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
      const changed = this.withReference(entry.sidecar, options.checkpointId, options.ttlMs);
      if (changed !== entry.sidecar) {
        await this.diskFull.guard(key, () => this.disk.rewriteSidecar(id, changed));
        entry.sidecar = changed;
        entry.lastAccessMs = now;
        await this.options.metadata.register(this.metadataOf(entry));
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
    await this.indexLoaded;
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
    const matching = [...this.index.values()]
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
    await this.indexLoaded;
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

  /** Sends pending touches; waits for the index load so no file is read after close. */
  async close(): Promise<void> {
    await this.indexLoaded.catch(() => undefined);
    await this.touches.flush();
    await this.openFiles.closeAll();
  }

  private async commit(
    id: string,
    spec: WriteSpec,
    staged: StagedWrite,
  ): Promise<{ entry: EntryInfo; created: boolean }> {
    try {
      const written = await staged.finish();
      if (spec.size !== undefined && written.size !== spec.size) {
        throw new CacheError(
          ErrorCode.FailedPrecondition,
          `received ${written.size} bytes but the header announced ${spec.size}; nothing was stored`,
        );
      }
      if (spec.crc32c !== undefined && written.crc32c !== spec.crc32c >>> 0) {
        throw new CacheError(
          ErrorCode.FailedPrecondition,
          `received bytes have CRC32C ${formatCrc32c(written.crc32c)} but the header announced ` +
            `${formatCrc32c(spec.crc32c)}; nothing was stored`,
        );
      }
      return await this.locks.run(id, async () => {
        const existing = await this.lookup(id);
        if (existing) {
          this.checkSameContent(existing, spec.key, written.size, written.crc32c);
          await staged.discard();
          const entry = await this.addReference(existing, spec.checkpointId);
          return { entry, created: false };
        }
        const now = Date.now();
        const sidecar: Sidecar = {
          version: SIDECAR_VERSION,
          key: spec.key,
          jobId: spec.jobId,
          checkpointIds: spec.checkpointId > 0 ? [spec.checkpointId] : [],
          size: written.size,
          crc32c: written.crc32c,
          createdAtMs: now,
          ttlMs: spec.ttlMs || this.options.defaultTtlMs,
          blockSize: staged.blockSize,
          blockCrcs: written.blockCrcs,
        };
        await this.disk.publish(id, staged.path, sidecar);
        const entry: IndexedEntry = { id, sidecar, lastAccessMs: now };
        try {
          await this.options.metadata.register(this.metadataOf(entry));
        } catch (err) {
          // A read while the index loads may have picked the entry up from its sidecar already.
          const picked = this.index.get(id);
          if (picked && this.index.delete(id)) this.heldBytes -= picked.sidecar.size;
          this.openFiles.forget(id);
          await this.disk.remove(id);
          throw err;
        }
        this.addToIndex(entry);
        return { entry: this.info(entry), created: true };
      });
    } finally {
      await staged.discard();
    }
  }

  private async addReference(entry: IndexedEntry, checkpointId: number): Promise<EntryInfo> {
    const changed = this.withReference(entry.sidecar, checkpointId, undefined);
    if (changed !== entry.sidecar) {
      await this.disk.rewriteSidecar(entry.id, changed);
      entry.sidecar = changed;
      await this.options.metadata.register(this.metadataOf(entry));
    }
    return this.info(entry);
  }

  /** The sidecar with the reference and TTL applied, or the same object when nothing changes. */
  private withReference(sidecar: Sidecar, checkpointId?: number, ttlMs?: number): Sidecar {
    const addRef = !!checkpointId && !sidecar.checkpointIds.includes(checkpointId);
    const newTtl = !!ttlMs && ttlMs !== sidecar.ttlMs;
    if (!addRef && !newTtl) return sidecar;
    return {
      ...sidecar,
      checkpointIds: addRef
        ? [...sidecar.checkpointIds, checkpointId].sort((a, b) => a - b)
        : sidecar.checkpointIds,
      ttlMs: newTtl ? ttlMs : sidecar.ttlMs,
    };
  }

  private checkSameContent(existing: IndexedEntry, key: string, size?: number, crc?: number): void {
    const s = existing.sidecar;
    if ((size !== undefined && size !== s.size) || (crc !== undefined && crc >>> 0 !== s.crc32c)) {
      throw new CacheError(
        ErrorCode.AlreadyExists,
        `${key} is already cached with different content (${s.size} bytes, CRC32C ` +
          `${formatCrc32c(s.crc32c)}); entries are immutable, delete it first to replace it`,
      );
    }
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

  /**
   * Reserves room for `bytes` more (and `entries` more entries), evicting least recently used
   * entries if that makes it fit. Evicts nothing and throws ResourceExhausted when even evicting
   * everything would not.
   */
  private async makeRoom(key: string, bytes: number, entries: number): Promise<void> {
    // Usage is only known once every sidecar has been counted.
    await this.indexLoaded;
    await this.locks.run('capacity', async () => {
      for (;;) {
        const need = await this.capacity.shortfall(this.usage(), bytes, entries);
        if (need.bytes === 0 && need.entries === 0) break;
        const now = Date.now();
        for (const [id, until] of this.leases) if (until <= now) this.leases.delete(id);
        const candidates = [...this.index.values()]
          .filter((e) => !this.leases.has(e.id))
          .map((e) => ({
            id: e.id,
            size: e.sidecar.size,
            lastAccessMs: e.lastAccessMs,
          }));
        const victims = chooseVictims(candidates, need);
        if (!victims) throw this.exhausted(key, bytes);
        if (!this.options.metadata.isAvailable()) {
          throw new CacheError(
            ErrorCode.Unavailable,
            `${key} needs room but Redis is unreachable: nothing is evicted and nothing stored ` +
              'until it is back',
          );
        }
        let removed = 0;
        const notLeased = (e: IndexedEntry): boolean => (this.leases.get(e.id) ?? 0) <= Date.now();
        for (const v of victims) if (await this.remove(v.id, 'lru', notLeased)) removed++;
        if (removed === 0) throw this.exhausted(key, bytes);
      }
      this.capacity.reserve(bytes, entries);
    });
  }

  private exhausted(key: string, bytes: number): CacheError {
    const { maxBytes, maxEntries, minFreeRatio } = this.capacity.limits;
    const usage = this.usage();
    const reserved = this.capacity.reserved;
    return new CacheError(
      ErrorCode.ResourceExhausted,
      `${key} (${bytes} more bytes) does not fit in the cache even after evicting every idle entry: ` +
        `${usage.bytes} bytes in ${usage.entries} entries held, ${reserved.bytes} bytes reserved by ` +
        `writes in flight; limits: max bytes ${maxBytes ?? 'none'}, max entries ` +
        `${maxEntries ?? 'none'}, min free ratio ${minFreeRatio ?? 0}. Nothing was stored`,
    );
  }

  private addToIndex(entry: IndexedEntry): void {
    this.index.set(entry.id, entry);
    this.heldBytes += entry.sidecar.size;
  }

  /** Takes an entry out of the index, then off the disk. Caller holds the entry's lock. */
  private async removeLocal(entry: IndexedEntry, reason: RemovalReason): Promise<void> {
    if (this.index.delete(entry.id)) this.heldBytes -= entry.sidecar.size;
    this.removedWhileLoading?.add(entry.id);
    this.leases.delete(entry.id);
    this.openFiles.forget(entry.id);
    await this.disk.remove(entry.id);
    this.options.observer?.entryRemoved(reason, entry.sidecar.size);
  }

  /**
   * The indexed entry, or while the index is loading, the entry as its sidecar on disk says
   * (which then joins the index).
   */
  private async lookup(id: string): Promise<IndexedEntry | undefined> {
    const indexed = this.index.get(id);
    if (indexed || this.indexState !== 'loading' || this.removedWhileLoading?.has(id)) {
      return indexed;
    }
    let sidecar: Sidecar | undefined;
    try {
      sidecar = await this.disk.readSidecar(id);
    } catch (error) {
      this.logger.warn('unreadable sidecar skipped while the index loads', { id, error });
      return undefined;
    }
    if (!sidecar) return undefined;
    // The loader may have added it while the sidecar was being read.
    const loaded = this.index.get(id);
    if (loaded) return loaded;
    const entry: IndexedEntry = { id, sidecar, lastAccessMs: sidecar.createdAtMs };
    this.addToIndex(entry);
    return entry;
  }

  /** Deletes `entry` for failing its checksums; a newer entry under the same key is left alone. */
  private async quarantine(entry: IndexedEntry, detail: string): Promise<boolean> {
    this.logger.error('corrupt entry deleted', { key: entry.sidecar.key, id: entry.id, detail });
    return this.remove(entry.id, 'corruption', (current) => current === entry);
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
    let running = this.verifications.get(entry);
    if (!running) {
      running = this.verifyEntry(entry).finally(() => this.verifications.delete(entry));
      this.verifications.set(entry, running);
    }
    return running;
  }

  /** Reads the whole entry file: why it is corrupt, or undefined when every check passes. */
  private async verifyEntry(entry: IndexedEntry): Promise<string | undefined> {
    const problem = sidecarProblem(entry.id, entry.sidecar);
    if (problem) return `its sidecar is unusable: ${problem}`;
    const { blockSize, blockCrcs, size } = entry.sidecar;
    let handle: fs.FileHandle;
    try {
      handle = await fs.open(this.disk.dataPath(entry.id), 'r');
    } catch (err) {
      if (isNotFound(err)) return undefined; // removed meanwhile: nothing left to quarantine
      throw err;
    }
    try {
      const span = Math.max(blockSize, Math.floor(READ_SPAN / blockSize) * blockSize);
      const buffer = Buffer.allocUnsafe(span);
      for (let start = 0; start < size; start += span) {
        const want = Math.min(span, size - start);
        const { bytesRead } = await handle.read(buffer, 0, want, start);
        if (bytesRead !== want) return `its file ends at ${start + bytesRead} of ${size} bytes`;
        const check = checkBlocks(
          buffer.subarray(0, want),
          start / blockSize,
          blockSize,
          (b) => blockCrcs[b],
        );
        if (!check.ok) return `block ${check.block} fails its CRC32C`;
      }
      return undefined;
    } finally {
      await handle.close();
    }
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

  private metadataOf(entry: IndexedEntry): EntryMetadata {
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

  private info(entry: IndexedEntry): EntryInfo {
    return { ...this.metadataOf(entry), nodeId: this.options.nodeId };
  }
}
