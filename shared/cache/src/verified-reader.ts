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
import type { BlockBufferPool } from './block-buffer-pool';
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
  /** Buffers of CHUNK_HEADROOM + blockSize bytes to read whole blocks into. */
  pool?: BlockBufferPool;
}

export class VerifiedReader implements EntryReader {
  readonly entry: EntryInfo;
  readonly offset: number;
  readonly length: number;
  private closed = false;
  private readonly pool: BlockBufferPool | undefined;

  constructor(private readonly options: VerifiedReaderOptions) {
    this.entry = options.entry;
    this.offset = options.offset;
    this.length = options.length;
    this.pool =
      options.pool?.size === CHUNK_HEADROOM + options.blockSize ? options.pool : undefined;
  }

  async *chunks(maxChunkSize: number): AsyncGenerator<VerifiedChunk> {
    const { blockSize, blockCrcs } = this.options;
    const end = this.offset + this.length;
    const lastBlock = Math.floor((end - 1) / blockSize);
    let block = Math.floor(this.offset / blockSize);
    let pos = this.offset;
    // One block is read ahead while the current one is verified and sent.
    let next = pos < end ? this.startRead(block) : undefined;
    try {
      while (pos < end && next) {
        const blockStart = block * blockSize;
        const blockLen = Math.min(blockSize, this.entry.size - blockStart);
        const current = next;
        next = undefined;
        const { data, backing } = await current;
        if (data.length < blockLen) {
          await this.options.onCorrupt(
            `file ends at ${blockStart + data.length}, entry size is ${this.entry.size}`,
          );
          throw new CacheError(
            ErrorCode.DataLoss,
            `cached copy of ${this.entry.key} is truncated; it has been deleted, read the key ` +
              'from the remote store',
          );
        }
        if (block < lastBlock) next = this.startRead(block + 1);
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
          const release = backing ? () => this.pool?.release(backing) : undefined;
          yield { offset: pos, data, crc32c: actual, headroom: CHUNK_HEADROOM, release };
        } else {
          // Pieces of one block may wait in the call's queue together: this buffer is not reused.
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
    } finally {
      // A read ahead still in flight must finish before the handle is closed.
      if (next) {
        const pending = await next.catch(() => undefined);
        if (pending?.backing) this.pool?.release(pending.backing);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.options.handle.close();
  }

  /** Reads block `block` into a (pooled) buffer; a short result means the file ends early. */
  private startRead(block: number): Promise<{ data: Buffer; backing: Buffer | undefined }> {
    const { blockSize, handle } = this.options;
    const position = block * blockSize;
    const length = Math.min(blockSize, this.entry.size - position);
    // Room in front of the data for the chunk's message header (see CHUNK_HEADROOM).
    const pooled = this.pool && length === blockSize ? this.pool.acquire() : undefined;
    const backing = pooled ?? Buffer.allocUnsafeSlow(CHUNK_HEADROOM + length);
    const data = backing.subarray(CHUNK_HEADROOM, CHUNK_HEADROOM + length);
    const read = (async () => {
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(data, done, length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return { data: data.subarray(0, done), backing: pooled };
    })();
    read.catch(() => undefined); // awaited by chunks(); this only keeps it from going unhandled
    return read;
  }
}
