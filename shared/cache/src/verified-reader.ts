/**
 * Streams a byte range of one entry from an already opened file, verifying every checksum block
 * against the CRC32C recorded at write time before any of its bytes leave. The file handle is held
 * before the entry can be removed, so a read that started finishes even if the entry expires
 * meanwhile.
 * Owns: the block arithmetic. Never: opening or closing the file (the caller lends the handle and
 * is told at `close`), deciding what to do about corruption (the onCorrupt callback does).
 *
 * One disk read covers up to READ_SPAN bytes of whole blocks, starting at the block that holds the
 * next byte wanted, and only the blocks the range touches: a 4 KiB range read of an entry with
 * 64 KiB blocks reads and checks 64–128 KiB, a whole-entry read goes in 256 KiB steps.
 */
import type { promises as fs } from 'node:fs';
import { blockSpan, checkBlocks, crc32c, formatCrc32c } from '@checkpoint-cache/checksum';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { BlockBufferPool } from './block-buffer-pool';
import {
  CHUNK_HEADROOM,
  type EntryInfo,
  type EntryReader,
  type VerifiedChunk,
} from './cache-types';

/** Most bytes one disk read (and one chunk) covers, unless a single block is larger. */
export const READ_SPAN = 256 * 1024;

export interface VerifiedReaderOptions {
  handle: fs.FileHandle;
  /** Called once by close(): the reader is done with the handle. */
  onClose: () => void | Promise<void>;
  entry: EntryInfo;
  blockSize: number;
  blockCrcs: Uint32Array;
  offset: number;
  length: number;
  /** Where the entry's bytes start in the file (a packed entry's place in its pack); 0 if absent. */
  fileOffset?: number;
  /** Called once when a block fails its checksum, before the read throws DATA_LOSS. */
  onCorrupt: (detail: string) => Promise<void>;
  /** Buffers of CHUNK_HEADROOM + READ_SPAN bytes to read into. */
  pool?: BlockBufferPool;
}

interface SpanRead {
  start: number;
  /** The bytes read; shorter than asked only if the file ends early. */
  data: Buffer;
  length: number;
  /** The pooled buffer behind `data`, to give back once its bytes are sent. */
  backing: Buffer | undefined;
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
    this.pool = options.pool?.size === CHUNK_HEADROOM + READ_SPAN ? options.pool : undefined;
  }

  async *chunks(maxChunkSize: number): AsyncGenerator<VerifiedChunk> {
    const end = this.offset + this.length;
    let pos = this.offset;
    // One span is read ahead while the current one is verified and sent.
    let next = pos < end ? this.startRead(pos, end) : undefined;
    try {
      while (pos < end && next) {
        const current = next;
        next = undefined;
        const { start, data, length, backing } = await current;
        if (data.length < length) {
          await this.options.onCorrupt(
            `file ends at ${start + data.length}, entry size is ${this.entry.size}`,
          );
          throw new CacheError(
            ErrorCode.DataLoss,
            `cached copy of ${this.entry.key} is truncated; it has been deleted, read the key ` +
              'from the remote store',
          );
        }
        const spanEnd = start + length;
        if (spanEnd < end) next = this.startRead(spanEnd, end);
        const crc = await this.verify(start, data);
        const sliceEnd = Math.min(end, spanEnd);
        const release = backing ? () => this.pool?.release(backing) : undefined;
        if (pos === start && sliceEnd === spanEnd && length <= maxChunkSize) {
          yield { offset: pos, data, crc32c: crc, headroom: CHUNK_HEADROOM, release };
        } else {
          // Pieces of one span may wait in the call's queue together: the buffer goes back with
          // the last of them (grpc-js calls back in order).
          for (let p = pos; p < sliceEnd; p += maxChunkSize) {
            const pieceEnd = Math.min(sliceEnd, p + maxChunkSize);
            const piece = data.subarray(p - start, pieceEnd - start);
            const headroom = p === start ? CHUNK_HEADROOM : 0;
            const last = pieceEnd === sliceEnd;
            yield {
              offset: p,
              data: piece,
              crc32c: crc32c(piece),
              headroom,
              release: last ? release : undefined,
            };
          }
        }
        pos = sliceEnd;
      }
    } finally {
      // A read ahead still in flight must finish before the handle is given back.
      if (next) {
        const pending = await next.catch(() => undefined);
        if (pending?.backing) this.pool?.release(pending.backing);
      }
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.options.onClose();
  }

  /** The CRC32C of the span's bytes once every block in it matches; else DATA_LOSS. */
  private async verify(start: number, data: Buffer): Promise<number> {
    const { blockSize, blockCrcs } = this.options;
    const check = checkBlocks(data, start / blockSize, blockSize, (b) => blockCrcs[b]);
    if (check.ok) return check.crc32c;
    const blockStart = check.block * blockSize;
    const blockEnd = Math.min(blockStart + blockSize, this.entry.size);
    const detail =
      `block ${check.block} (bytes ${blockStart}..${blockEnd}) has CRC32C ` +
      `${formatCrc32c(check.actual)}, expected ${formatCrc32c(check.expected ?? 0)}`;
    await this.options.onCorrupt(detail);
    throw new CacheError(
      ErrorCode.DataLoss,
      `cached copy of ${this.entry.key} is corrupt (${detail}); it has been deleted, ` +
        'read the key from the remote store',
    );
  }

  /**
   * Reads the whole blocks from the one holding `from` up to the one holding `end - 1`, at most one
   * span, into a (pooled) buffer.
   */
  private startRead(from: number, end: number): Promise<SpanRead> {
    const { blockSize, handle } = this.options;
    const base = this.options.fileOffset ?? 0;
    const { start, length } = blockSpan(from, end, blockSize, this.entry.size, READ_SPAN);
    // Room in front of the data for the chunk's message header (see CHUNK_HEADROOM).
    const pooled = this.pool && length <= READ_SPAN ? this.pool.acquire() : undefined;
    const backing = pooled ?? Buffer.allocUnsafeSlow(CHUNK_HEADROOM + length);
    const data = backing.subarray(CHUNK_HEADROOM, CHUNK_HEADROOM + length);
    const read = (async (): Promise<SpanRead> => {
      let done = 0;
      while (done < length) {
        const { bytesRead } = await handle.read(data, done, length - done, base + start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return { start, data: data.subarray(0, done), length, backing: pooled };
    })();
    read.catch(() => undefined); // awaited by chunks(); this only keeps it from going unhandled
    return read;
  }
}
