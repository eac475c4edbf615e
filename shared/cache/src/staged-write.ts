/**
 * One write in flight: bytes land in a temp file while their whole-entry and per-block CRC32Cs are
 * computed, so that publish needs no second pass over the data.
 *
 * While a large write arrives, an fdatasync runs in the background every FLUSH_EVERY_BYTES (one at
 * a time), so the disk writes the entry while the rest is still coming in. Without it the kernel
 * starts writing a fresh file's dirty pages only once they pass vm.dirty_background_ratio (GiBs
 * on a node with memory to spare) or are 30 s old, so the final fsync found the whole entry still
 * to write and the Write took transfer time plus disk time, where `dd conv=fdatasync` takes copy
 * time plus disk time. The final fsync before publish stays: the background ones only start the
 * work early, and an error one of them reports is kept and thrown by finish (Linux reports a
 * writeback error to an open file once, so the final fsync would not see it again).
 * Owns: the temp file and the checks made while bytes arrive. Never: publishing (NodeCache does).
 */
import { promises as fs } from 'node:fs';
import { crc32c, crc32cCombine, formatCrc32c } from '@checkpoint-cache/checksum';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { TempFile } from './disk-store';

/** Bytes written between two background fdatasyncs of a large write (see the header). */
export const FLUSH_EVERY_BYTES = 32 * 1024 * 1024;

export class StagedWrite {
  private written = 0;
  private wholeCrc = 0;
  private blockCrc = 0;
  private blockFill = 0;
  private readonly blockCrcs: number[] = [];
  private closed = false;
  /** The background fdatasync in flight, and where the last one started. */
  private flushing: Promise<void> | undefined;
  private flushedTo = 0;
  private flushError: unknown;

  constructor(
    private readonly temp: TempFile,
    readonly blockSize: number,
    private readonly expectedSize: number | undefined,
    private readonly flushEveryBytes = FLUSH_EVERY_BYTES,
  ) {}

  get path(): string {
    return this.temp.path;
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
    await writeAll(this.temp.handle, data, this.written);
    this.written += data.length;
    if (!this.flushing && this.written - this.flushedTo >= this.flushEveryBytes) this.flushEarly();
  }

  /** Flushes the file to disk and returns what was written. */
  async finish(): Promise<{ size: number; crc32c: number; blockCrcs: Uint32Array }> {
    if (this.blockFill > 0) this.finishBlock();
    await this.flushing;
    if (this.flushError !== undefined) throw this.flushError;
    await this.temp.handle.sync();
    await this.close();
    return {
      size: this.written,
      crc32c: this.wholeCrc,
      blockCrcs: Uint32Array.from(this.blockCrcs),
    };
  }

  /** Closes and deletes the temp file; safe to call at any time, more than once. */
  async discard(): Promise<void> {
    await this.close();
    await fs.rm(this.temp.path, { force: true });
  }

  /** Starts writing what is there to disk; not awaited (finish and close wait for it). */
  private flushEarly(): void {
    this.flushedTo = this.written;
    this.flushing = this.temp.handle.datasync().then(
      () => {
        this.flushing = undefined;
      },
      (err: unknown) => {
        this.flushError ??= err;
        this.flushing = undefined;
      },
    );
  }

  private finishBlock(): void {
    this.blockCrcs.push(this.blockCrc);
    this.blockCrc = 0;
    this.blockFill = 0;
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    await this.temp.handle.close();
  }
}

async function writeAll(handle: fs.FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}
