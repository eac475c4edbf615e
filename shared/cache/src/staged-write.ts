/**
 * One write in flight: bytes land in a temp file while their whole-entry and per-block CRC32Cs are
 * computed, so that publish needs no second pass over the data.
 * Owns: the temp file and the checks made while bytes arrive. Never: publishing (NodeCache does).
 */
import { promises as fs } from 'node:fs';
import { crc32c, formatCrc32c } from '@checkpoint-cache/checksum';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { TempFile } from './disk-store';

export class StagedWrite {
  private written = 0;
  private wholeCrc = 0;
  private blockCrc = 0;
  private blockFill = 0;
  private readonly blockCrcs: number[] = [];
  private closed = false;

  constructor(
    private readonly temp: TempFile,
    readonly blockSize: number,
    private readonly expectedSize: number | undefined,
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
    if (chunkCrc !== undefined) {
      const actual = crc32c(data);
      if (actual !== chunkCrc >>> 0) {
        throw new CacheError(
          ErrorCode.InvalidArgument,
          `chunk at offset ${offset} has CRC32C ${formatCrc32c(actual)} but the message says ` +
            `${formatCrc32c(chunkCrc)}; the bytes were damaged in transit, retry the write`,
        );
      }
    }
    if (this.expectedSize !== undefined && this.written + data.length > this.expectedSize) {
      throw new CacheError(
        ErrorCode.FailedPrecondition,
        `received more than the ${this.expectedSize} bytes the header announced`,
      );
    }
    let pos = 0;
    while (pos < data.length) {
      const n = Math.min(this.blockSize - this.blockFill, data.length - pos);
      const part = data.subarray(pos, pos + n);
      this.blockCrc = crc32c(part, this.blockCrc);
      this.blockFill += n;
      pos += n;
      if (this.blockFill === this.blockSize) this.finishBlock();
    }
    this.wholeCrc = crc32c(data, this.wholeCrc);
    await writeAll(this.temp.handle, data, this.written);
    this.written += data.length;
  }

  /** Flushes the file to disk and returns what was written. */
  async finish(): Promise<{ size: number; crc32c: number; blockCrcs: Uint32Array }> {
    if (this.blockFill > 0) this.finishBlock();
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

  private finishBlock(): void {
    this.blockCrcs.push(this.blockCrc);
    this.blockCrc = 0;
    this.blockFill = 0;
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
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
