/**
 * One write in flight: bytes land in a temp file while their whole-entry and per-block CRC32Cs are
 * computed, so that publish needs no second pass over the data. An adopted write (Ingest's
 * hand-over) has its temp file linked to bytes already on disk: they are passed through for their
 * CRC32Cs and checks, and nothing is written; their fsync starts at once and runs alongside that
 * pass (the caller wrote them all before it handed the file over).
 * A write that may be packed (pack-store.ts) holds its bytes in memory while they stay within
 * `memoryLimit`, creating its temp file only when they grow past it: a small entry then costs no
 * file of its own at all.
 * Owns: the temp file and the checks made while bytes arrive. Never: publishing (NodeCache does).
 */
import { closeSync, fsync, promises as fs } from 'node:fs';
import { promisify } from 'node:util';
import { crc32c, crc32cCombine, formatCrc32c } from '@checkpoint-cache/checksum';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { TempFile } from './disk-store';
import { copyBlockCrcs } from './sidecar';
import { WriteBehind } from './write-behind';

const fsyncFd = promisify(fsync);

/**
 * Most bytes all writes held in memory to be packed may hold together; a write that would pass it
 * goes to a temp file (and gets files of its own), as without packing.
 */
export const MAX_HELD_BYTES = 64 * 1024 * 1024;

/** Bytes promised to writes held in memory, within a limit (MAX_HELD_BYTES unless told). */
export class HeldBytes {
  private used = 0;

  constructor(readonly limit = MAX_HELD_BYTES) {}

  /** What is promised now. */
  get held(): number {
    return this.used;
  }

  /** Promises `bytes` more if they fit; false (nothing promised) if they do not. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}

export class StagedWrite {
  private written = 0;
  private wholeCrc = 0;
  private blockCrc = 0;
  private blockFill = 0;
  private readonly blockCrcs: number[] = [];
  private closed = false;
  /** The temp path holds nothing of ours any more (moved into place, or deleted). */
  private gone = false;
  /** The temp file; none yet while the bytes are held in memory. */
  private temp: TempFile | undefined;
  /** Chunks reach the file behind the caller, several per writev (write-behind.ts). */
  private out: WriteBehind | undefined;
  /** The bytes so far, while they are held in memory (see the header); undefined once in a file. */
  private held: Buffer[] | undefined;
  /** An adopted file's fsync, started with the write; its failure is flush's to report. */
  private readonly earlySync: Promise<unknown> | undefined;

  /**
   * `temp`: the file to write (or, `adopted`, the linked file), or how to create one once the
   * bytes outgrow `memoryLimit` in memory.
   */
  constructor(
    temp: TempFile | (() => TempFile),
    readonly blockSize: number,
    private readonly expectedSize: number | undefined,
    private readonly adopted = false,
    private readonly memoryLimit = 0,
  ) {
    if (typeof temp === 'function') {
      this.held = [];
      this.createTemp = temp;
    } else {
      this.useFile(temp);
    }
    if (adopted && this.temp) {
      const sync = fsyncFd(this.temp.fd);
      sync.catch(() => undefined); // reported by flush; never left unhandled meanwhile
      this.earlySync = sync;
    }
  }

  private readonly createTemp: (() => TempFile) | undefined;

  private useFile(temp: TempFile): WriteBehind {
    this.temp = temp;
    this.out = new WriteBehind(temp.fd);
    return this.out;
  }

  /** The temp file's path (not for a write held in memory: see inMemory). */
  get path(): string {
    if (!this.temp) throw new Error('a write held in memory has no temp file');
    return this.temp.path;
  }

  /** Its bytes are all in memory (heldBytes), none in a file. */
  get inMemory(): boolean {
    return this.held !== undefined;
  }

  /** The bytes of a write held in memory, in order. */
  heldBytes(): readonly Buffer[] {
    if (!this.held) throw new Error('the write is in a temp file');
    return this.held;
  }

  get size(): number {
    return this.written;
  }

  async append(offset: number, data: Buffer, chunkCrc?: number): Promise<void> {
    if (offset !== this.written) {
      throw new CacheError(
        ErrorCode.InvalidArgument,
        `chunk offset ${offset} does not follow the ${this.written} bytes received so far; ` +
          'send chunks in order without gaps',
      );
    }
    // One pass over the bytes: the CRC32C of each piece that falls within one block. The chunk's,
    // the blocks' and the whole entry's CRC32Cs are combined from those.
    const pieces: number[] = [];
    let actual = 0;
    for (let pos = 0, fill = this.blockFill; pos < data.length;) {
      const n = Math.min(this.blockSize - fill, data.length - pos);
      const crc = crc32c(data.subarray(pos, pos + n));
      pieces.push(crc);
      actual = pos === 0 ? crc : crc32cCombine(actual, crc, n);
      pos += n;
      fill = (fill + n) % this.blockSize;
    }
    if (chunkCrc !== undefined && actual !== chunkCrc >>> 0) {
      throw new CacheError(
        ErrorCode.InvalidArgument,
        `chunk at offset ${offset} has CRC32C ${formatCrc32c(actual)} but the message says ` +
          `${formatCrc32c(chunkCrc)}; the bytes were damaged in transit, retry the write`,
      );
    }
    if (this.expectedSize !== undefined && this.written + data.length > this.expectedSize) {
      throw new CacheError(
        ErrorCode.FailedPrecondition,
        `received more than the ${this.expectedSize} bytes the header announced`,
      );
    }
    let pos = 0;
    for (const crc of pieces) {
      const n = Math.min(this.blockSize - this.blockFill, data.length - pos);
      this.blockCrc = this.blockFill === 0 ? crc : crc32cCombine(this.blockCrc, crc, n);
      this.blockFill += n;
      pos += n;
      if (this.blockFill === this.blockSize) this.finishBlock();
    }
    this.wholeCrc = crc32cCombine(this.wholeCrc, actual, data.length);
    this.written += data.length;
    if (this.adopted) return;
    if (this.held) {
      if (this.written <= this.memoryLimit) {
        if (data.length > 0) this.held.push(data);
        return;
      }
      // Outgrew memory: the bytes so far go to a temp file first, then this chunk after them.
      const out = this.useFile(this.createTemp!());
      const earlier = this.held;
      this.held = undefined;
      for (const b of earlier) await out.append(b);
    }
    await this.out!.append(data);
  }

  /** What was written: its size and CRC32Cs (no more appends after this). */
  summary(): { size: number; crc32c: number; blockCrcs: Uint32Array } {
    if (this.blockFill > 0) this.finishBlock();
    return {
      size: this.written,
      crc32c: this.wholeCrc,
      blockCrcs: copyBlockCrcs(this.blockCrcs),
    };
  }

  /** Flushes the file to disk and closes it; it may then be renamed into place. */
  async flush(): Promise<void> {
    const { out, temp } = this;
    if (!out || !temp) return;
    if (this.earlySync) {
      await this.earlySync;
    } else {
      await out.flush();
      await fsyncFd(temp.fd);
    }
    await this.close();
  }

  /** The temp file was renamed into place: discard has nothing left to delete. */
  moved(): void {
    this.gone = true;
  }

  /** Closes and deletes the temp file; safe to call at any time, more than once. */
  async discard(): Promise<void> {
    await this.close();
    if (this.held) this.held = [];
    if (this.gone || !this.temp) return;
    this.gone = true;
    await fs.rm(this.temp.path, { force: true });
  }

  private finishBlock(): void {
    this.blockCrcs.push(this.blockCrc);
    this.blockCrc = 0;
    this.blockFill = 0;
  }

  private async close(): Promise<void> {
    if (this.closed || !this.temp || !this.out) return;
    this.closed = true;
    // Never close the descriptor under a write or fsync in flight (its number could be reused).
    await this.out.settle();
    await this.earlySync?.catch(() => undefined);
    // Synchronous: closing a file of ours that nothing maps is a page-cache call (disk-store.ts,
    // "Small-file calls").
    closeSync(this.temp.fd);
  }
}
