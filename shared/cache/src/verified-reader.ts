/**
 * Streams a byte range of one entry from an already opened file, verifying every block against
 * the CRC32C recorded at write time before any of its bytes leave. The file handle is opened before
 * the entry can be removed, so a read that started finishes even if the entry expires meanwhile.
 * Owns: the handle and the block arithmetic. Never: deciding what to do about corruption (the
 * onCorrupt callback does).
 */
import type { promises as fs } from 'node:fs';
import { crc32c, formatCrc32c } from '@checkpoint-cache/checksum';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { CHUNK_HEADROOM, type EntryInfo, type EntryReader, type VerifiedChunk } from './node-cache';

export interface VerifiedReaderOptions {
  handle: fs.FileHandle;
  entry: EntryInfo;
  blockSize: number;
  blockCrcs: Uint32Array;
  offset: number;
  length: number;
  /** Called once when a block fails its checksum, before the read throws DATA_LOSS. */
  onCorrupt: (detail: string) => Promise<void>;
}

export class VerifiedReader implements EntryReader {
  readonly entry: EntryInfo;
  readonly offset: number;
  readonly length: number;
  private closed = false;

  constructor(private readonly options: VerifiedReaderOptions) {
    this.entry = options.entry;
    this.offset = options.offset;
    this.length = options.length;
  }

  async *chunks(maxChunkSize: number): AsyncGenerator<VerifiedChunk> {
    const { blockSize, blockCrcs } = this.options;
    const end = this.offset + this.length;
    let block = Math.floor(this.offset / blockSize);
    let pos = this.offset;
    while (pos < end) {
      const blockStart = block * blockSize;
      const blockLen = Math.min(blockSize, this.entry.size - blockStart);
      const data = await this.readBlock(blockStart, blockLen);
      const actual = crc32c(data);
      if (actual !== blockCrcs[block]) {
        const detail =
          `block ${block} (bytes ${blockStart}..${blockStart + blockLen}) has CRC32C ` +
          `${formatCrc32c(actual)}, expected ${formatCrc32c(blockCrcs[block] ?? 0)}`;
        await this.options.onCorrupt(detail);
        throw new CacheError(
          ErrorCode.DataLoss,
          `cached copy of ${this.entry.key} is corrupt (${detail}); it has been deleted, ` +
            'read the key from the remote store',
        );
      }
      const sliceEnd = Math.min(end, blockStart + blockLen);
      if (pos === blockStart && sliceEnd === blockStart + blockLen && blockLen <= maxChunkSize) {
        yield { offset: pos, data, crc32c: actual, headroom: CHUNK_HEADROOM };
      } else {
        for (let p = pos; p < sliceEnd; p += maxChunkSize) {
          const piece = data.subarray(
            p - blockStart,
            Math.min(sliceEnd, p + maxChunkSize) - blockStart,
          );
          const headroom = p === blockStart ? CHUNK_HEADROOM : 0;
          yield { offset: p, data: piece, crc32c: crc32c(piece), headroom };
        }
      }
      pos = sliceEnd;
      block++;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.options.handle.close();
  }

  private async readBlock(position: number, length: number): Promise<Buffer> {
    // Its own memory (not the shared pool), with room in front for the chunk's message header.
    const data = Buffer.allocUnsafeSlow(CHUNK_HEADROOM + length).subarray(CHUNK_HEADROOM);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.options.handle.read(
        data,
        done,
        length - done,
        position + done,
      );
      if (bytesRead === 0) {
        await this.options.onCorrupt(
          `file ends at ${position + done}, entry size is ${this.entry.size}`,
        );
        throw new CacheError(
          ErrorCode.DataLoss,
          `cached copy of ${this.entry.key} is truncated; it has been deleted, read the key from ` +
            'the remote store',
        );
      }
      done += bytesRead;
    }
    return data;
  }
}
