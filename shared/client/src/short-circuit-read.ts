/**
 * The same-node short circuit of one read: leases the entry from the agent, opens its file on the
 * mounted cache volume and hands out its bytes a span at a time, every block checked against the
 * CRC32C the lease carried before any of its bytes leave. One span is read ahead while the current
 * one is verified and delivered. The entry is the lease's entry.size bytes from its data_offset of
 * the file: an agent may pack small entries several to a file, so the file may hold other bytes
 * before and after the entry, and none of them is read.
 * Owns: the leased file handle and the span arithmetic. Never: deciding what happens when the
 * short circuit fails (the read stream goes on by streaming from the agent), delivering bytes.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Metadata } from '@grpc/grpc-js';
import { blockSpan, checkBlocks } from '@checkpoint-cache/checksum';
import type {
  CheckpointCacheClient as GrpcClient,
  EntryInfo__Output,
  LeaseResponse__Output,
} from '@checkpoint-cache/proto';

/**
 * Most bytes one read of a short-circuited file covers, unless a single block is larger. 1 MiB:
 * 1.4 x the MB/s of 256 KiB spans in alternating runs (fewer thread-pool round trips per byte);
 * a range read still reads only the blocks it touches.
 */
const DIRECT_SPAN = 1024 * 1024;

export interface ShortCircuitRequest {
  grpc: GrpcClient;
  key: string;
  offset: number;
  /** Absent: up to the end of the entry. */
  length: number | undefined;
  /** Where the client mounts the cache volume; absent: the agent's own path. */
  cacheRoot: string | undefined;
  leaseDeadlineMs: number;
}

/** Verified bytes of whole blocks (a span), and where they start in the entry. */
export interface VerifiedSpan {
  start: number;
  data: Buffer;
  /** CRC32C of all of `data`. */
  crc32c: number;
}

export class ShortCircuitRead {
  /** The next span, read ahead while the current one is verified and delivered. */
  private ahead: { start: number; read: Promise<Buffer> } | undefined;
  private closed = false;

  private constructor(
    private readonly handle: fs.FileHandle,
    /** The entry as the lease describes it. */
    readonly entry: EntryInfo__Output,
    /** Absolute end (exclusive) of the range read. */
    readonly end: number,
    /** Where the entry's bytes begin in the file (entry offset 0). */
    private readonly dataOffset: number,
    private readonly blockSize: number,
    private readonly blockCrcs: Buffer,
  ) {}

  /**
   * Leases the entry and opens its file. Rejects with the agent's ServiceError when the lease
   * fails, and with a plain Error when the file cannot serve the range (absent, shorter than
   * data_offset + entry.size, a range outside the entry: the agent's stream then answers for it).
   */
  static async open(request: ShortCircuitRequest): Promise<ShortCircuitRead> {
    const { key, offset, length } = request;
    const lease = await leaseOf(request, key);
    const entry = lease.entry;
    const end = length === undefined ? entry?.size : offset + length;
    // A bad range is left to the agent, which answers it with INVALID_ARGUMENT.
    if (!entry || end === undefined || offset > entry.size || end > entry.size) {
      throw new Error('range outside the entry');
    }
    const dataOffset = lease.dataOffset;
    // uint64 arrives as a Number: past 2^53 it is no longer the offset the agent meant.
    if (!Number.isSafeInteger(dataOffset + entry.size)) throw new Error('data_offset too large');
    const root = request.cacheRoot ?? lease.cacheRoot;
    const handle = await fs.open(path.join(root, lease.relativePath), 'r');
    try {
      // Longer is fine (other entries share the file); shorter is a truncated file.
      if ((await handle.stat()).size < dataOffset + entry.size) throw new Error('file too short');
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    return new ShortCircuitRead(handle, entry, end, dataOffset, lease.blockSize, lease.blockCrc32c);
  }

  /**
   * The verified span of whole blocks holding `position`, up to the end of the range. Throws when
   * the file ends early or a block fails its CRC32C.
   */
  async next(position: number): Promise<VerifiedSpan> {
    const span = this.spanAt(position);
    const ahead = this.ahead?.start === span.start ? this.ahead.read : undefined;
    this.ahead = undefined;
    const data = await (ahead ?? this.readSpan(span));
    if (data.length !== span.length) throw new Error('file ended early');
    const spanEnd = span.start + span.length;
    if (spanEnd < this.end && !this.closed) {
      const following = this.spanAt(spanEnd);
      this.ahead = { start: following.start, read: this.readSpan(following) };
    }
    const crcs = this.blockCrcs;
    const check = checkBlocks(data, span.start / this.blockSize, this.blockSize, (b) =>
      b * 4 + 4 <= crcs.length ? crcs.readUInt32BE(b * 4) : undefined,
    );
    if (!check.ok) throw new Error(`block ${check.block} fails its CRC32C`);
    return { start: span.start, data, crc32c: check.crc32c };
  }

  /** Closes the file once a read ahead still in flight has finished. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const pending = this.ahead?.read ?? Promise.resolve();
    this.ahead = undefined;
    void pending.catch(() => undefined).then(() => this.handle.close().catch(() => undefined));
  }

  /** The whole blocks from the one holding `from` to the one holding `end - 1`, one span at most. */
  private spanAt(from: number): { start: number; length: number } {
    return blockSpan(from, this.end, this.blockSize, this.entry.size, DIRECT_SPAN);
  }

  /**
   * Reads a span of the entry (entry offsets; spans never pass entry.size, so never into the bytes
   * after it); shorter than asked only at the end of the file.
   */
  private readSpan(span: { start: number; length: number }): Promise<Buffer> {
    const { length } = span;
    const start = this.dataOffset + span.start;
    const data = Buffer.allocUnsafe(length);
    const read = (async () => {
      let done = 0;
      while (done < length) {
        const { bytesRead } = await this.handle.read(data, done, length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return data.subarray(0, done);
    })();
    read.catch(() => undefined); // awaited by next(); only kept from going unhandled
    return read;
  }
}

function leaseOf(request: ShortCircuitRequest, key: string): Promise<LeaseResponse__Output> {
  return new Promise((resolve, reject) => {
    request.grpc.lease(
      // This reader honours data_offset; without saying so an entry in a shared file is refused.
      { key, acceptOffset: true },
      new Metadata(),
      { deadline: Date.now() + request.leaseDeadlineMs },
      (err, res) => (err || !res ? reject(err ?? new Error('no lease')) : resolve(res)),
    );
  });
}
