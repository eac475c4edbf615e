/**
 * The write path: a new entry is staged in tmp/ with room reserved for it, checked against what
 * its header announced, then (under the entry's lock) fsynced with its sidecar and handed to the
 * group commit, which publishes (rename + directory fsync) and registers it in the metadata store
 * together with the writes that finish at the same time, before the caller is answered; a second
 * write of the same bytes only adds its checkpoint reference.
 * Owns: the order of those steps and what each failure leaves (nothing visible). Never: eviction
 * decisions (makeRoom), reads.
 */
import { formatCrc32c } from '@checkpoint-cache/checksum';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { AdoptableFile, EntryInfo, EntryWriter, WriteSpec } from './cache-types';
import type { DiskStore } from './disk-store';
import { entryInfoOf, entryMetadataOf, type IndexedEntry } from './entry-index';
import { entryIdOf, validateCount, validateJobId, validateKey } from './entry-key';
import type { Sidecar } from './sidecar';
import { HeldBytes, StagedWrite } from './staged-write';
import {
  newSidecar,
  WholeWrites,
  type WholeEntry,
  type WholeOutcome,
  type WholeWritesOptions,
} from './whole-writes';

export interface EntryWritesOptions extends WholeWritesOptions {
  disk: DiskStore;
  /** Drops a cached read handle of an entry whose file is being removed. */
  forgetOpenFile: (id: string) => void;
}

export class EntryWrites {
  /** Each write held in memory promises its announced size, or the pack limit. */
  private readonly held = new HeldBytes();
  private readonly whole: WholeWrites;

  constructor(private readonly o: EntryWritesOptions) {
    this.whole = new WholeWrites(o, this.held);
  }

  /** WriteBatch's fast road for small new entries (whole-writes.ts). */
  writeWhole(
    entries: readonly WholeEntry[],
    refusal: () => unknown,
  ): Promise<(WholeOutcome | undefined)[]> {
    return this.whole.write(entries, refusal);
  }

  /**
   * `adopt`: a file whose bytes should become the entry's by a hard link rather than a copy
   * (Ingest's hand-over; DiskStore.linkTemp). The caller still passes every byte through `append`
   * (the CRC32Cs come from them); when the link cannot be made the bytes are written as usual.
   */
  async begin(spec: WriteSpec, adopt?: AdoptableFile): Promise<EntryWriter> {
    validateKey(spec.key);
    validateJobId(spec.jobId);
    validateCount('checkpoint_id', spec.checkpointId);
    if (spec.size !== undefined) validateCount('size', spec.size);
    if (spec.ttlMs !== undefined) validateCount('ttl_ms', spec.ttlMs);
    // Known now, so the client is told before it sends the bytes, not after they are on disk.
    // An outage that starts during the write is caught when commit registers the entry.
    if (!this.o.metadata.isAvailable()) {
      throw new CacheError(
        ErrorCode.Unavailable,
        `${spec.key} is not stored: Redis is unreachable, and an entry it does not know could ` +
          'never expire. Writes are refused until it is back; read this file from the remote store',
      );
    }
    const id = entryIdOf(spec.key);
    const existing = await this.o.index.lookup(id);
    if (existing) checkSameContent(existing, spec.key, spec.size, spec.crc32c);
    // Room for the announced size (or for the entry alone, growing with each chunk) is reserved
    // up front, so concurrent writes cannot overshoot the limits together.
    let reservedBytes = spec.size ?? 0;
    let reservedEntries = 1;
    await this.o.makeRoom(spec.key, reservedBytes, reservedEntries);
    let held = 0;
    const releaseReservation = (): void => {
      this.o.capacity.release(reservedBytes, reservedEntries);
      reservedBytes = 0;
      reservedEntries = 0;
      this.held.give(held);
      held = 0;
    };
    // Promised at once (releaseReservation gives it back), so concurrent writes cannot pass it.
    const packable =
      !adopt &&
      this.o.packMaxBytes > 0 &&
      (spec.size ?? 0) <= this.o.packMaxBytes &&
      this.held.take(spec.size ?? this.o.packMaxBytes);
    if (packable) held = spec.size ?? this.o.packMaxBytes;
    let staged: StagedWrite;
    let adoption: string | undefined;
    try {
      const linked = adopt
        ? await this.o.diskFull.guard(spec.key, async () => this.o.disk.linkTemp(adopt))
        : undefined;
      if (linked && 'fd' in linked) {
        adoption = 'linked';
        staged = new StagedWrite(linked, this.o.blockSize, spec.size, true);
      } else if (packable) {
        // Held in memory to be packed, unless it outgrows the limit (then in a temp file).
        staged = new StagedWrite(
          () => this.o.disk.createTemp(),
          this.o.blockSize,
          spec.size,
          false,
          this.o.packMaxBytes,
        );
      } else {
        adoption = linked?.notLinked;
        const temp = await this.o.diskFull.guard(spec.key, async () => this.o.disk.createTemp());
        staged = new StagedWrite(temp, this.o.blockSize, spec.size);
      }
    } catch (err) {
      releaseReservation();
      throw err;
    }
    return {
      append: async (offset, data, crc) => {
        if (spec.size === undefined && data.length > 0) {
          await this.o.makeRoom(spec.key, data.length, 0);
          reservedBytes += data.length;
        }
        await this.o.diskFull.guard(spec.key, () => staged.append(offset, data, crc));
      },
      commit: () =>
        this.o.diskFull
          .guard(spec.key, () => this.commit(id, spec, staged))
          .finally(releaseReservation),
      abort: async () => {
        releaseReservation();
        await staged.discard();
      },
      ...(adoption ? { adoption } : {}),
    };
  }

  private async commit(
    id: string,
    spec: WriteSpec,
    staged: StagedWrite,
  ): Promise<{ entry: EntryInfo; created: boolean }> {
    try {
      const written = staged.summary();
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
      return await this.o.locks.run(id, async () => {
        const existing = await this.o.index.lookup(id);
        if (existing) {
          checkSameContent(existing, spec.key, written.size, written.crc32c);
          await staged.discard();
          const entry = await this.addReference(existing, spec.checkpointId);
          return { entry, created: false };
        }
        const now = Date.now();
        const sidecar = newSidecar(
          spec,
          written.size,
          written.crc32c,
          staged.blockSize,
          written.blockCrcs,
          { nowMs: now, defaultTtlMs: this.o.defaultTtlMs },
        );
        if (staged.inMemory) return await this.commitPacked(id, sidecar, staged, now);
        // Both files durable before either is renamed (DiskStore); their fsyncs run together.
        const [flushed, staging] = await Promise.allSettled([
          staged.flush(),
          this.o.disk.stageSidecar(sidecar),
        ]);
        if (flushed.status === 'rejected' || staging.status === 'rejected') {
          if (staging.status === 'fulfilled') await this.o.disk.removeTemp(staging.value);
          throw flushed.status === 'rejected'
            ? flushed.reason
            : (staging as PromiseRejectedResult).reason;
        }
        const sidecarTemp = staging.value;
        const entry: IndexedEntry = { id, sidecar, lastAccessMs: now };
        try {
          await this.o.groups.publish({
            id,
            dataTemp: staged.path,
            sidecarTemp,
            metadata: entryMetadataOf(entry),
          });
        } catch (err) {
          // A read while the index loads may have picked the entry up from its sidecar already.
          this.o.index.remove(id);
          this.o.forgetOpenFile(id);
          await this.o.disk.remove(id);
          throw err;
        }
        staged.moved();
        this.o.index.add(entry);
        return { entry: entryInfoOf(entry, this.o.nodeId), created: true };
      });
    } finally {
      await staged.discard();
    }
  }

  /** Publishes a write held in memory into the group's pack. Caller holds the entry's lock. */
  private async commitPacked(
    id: string,
    sidecar: Sidecar,
    staged: StagedWrite,
    now: number,
  ): Promise<{ entry: EntryInfo; created: boolean }> {
    const entry: IndexedEntry = { id, sidecar, lastAccessMs: now };
    const pack = await this.o.groups.publish({
      id,
      packed: true,
      sidecar,
      data: staged.heldBytes(),
      metadata: entryMetadataOf(entry),
    });
    // On failure nothing is left: the pack was not written, or GroupCommit took the entry out.
    const added = this.o.index.add({ ...entry, pack });
    return { entry: entryInfoOf(added, this.o.nodeId), created: true };
  }

  private async addReference(entry: IndexedEntry, checkpointId: number): Promise<EntryInfo> {
    const changed = withReference(entry.sidecar, checkpointId, undefined);
    if (changed !== entry.sidecar) {
      await this.o.disk.rewriteSidecar(entry.id, changed, entry.pack);
      entry.sidecar = changed;
      await this.o.metadata.register(entryMetadataOf(entry));
    }
    return entryInfoOf(entry, this.o.nodeId);
  }
}

/** The sidecar with the reference and TTL applied, or the same object when nothing changes. */
export function withReference(sidecar: Sidecar, checkpointId?: number, ttlMs?: number): Sidecar {
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

/** Throws AlreadyExists unless `size` and `crc` (where given) are those of `existing`. */
export function checkSameContent(
  existing: IndexedEntry,
  key: string,
  size?: number,
  crc?: number,
): void {
  const s = existing.sidecar;
  if ((size !== undefined && size !== s.size) || (crc !== undefined && crc >>> 0 !== s.crc32c)) {
    throw new CacheError(
      ErrorCode.AlreadyExists,
      `${key} is already cached with different content (${s.size} bytes, CRC32C ` +
        `${formatCrc32c(s.crc32c)}); entries are immutable, delete it first to replace it`,
    );
  }
}
