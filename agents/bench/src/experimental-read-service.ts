/**
 * The agent's read loop and variants of it, side by side in one server, to measure each lever of
 * issue 4 before anyone changes the real service. The request's key picks the variant (see
 * READ_VARIANTS); every variant serves the same file, verifies every block against a CRC32C
 * computed at start-up (as the agent does against its sidecar) and speaks the real proto, so the
 * unchanged client stub reads all of them.
 *  - today:     a replica of CheckpointCacheService.read over VerifiedReader as of commit bb833f8:
 *               a fresh buffer per 256 KiB block with headroom in front, read, verify, the chunk's
 *               protobuf framing written into the headroom, the bytes handed to grpc-js as they
 *               are; the next block is read only after the write (and any drain).
 *  - objects:   the loop before bb833f8: message objects that protobufjs encodes (a copy).
 *  - readahead: today, and the next block's disk read starts before this block is written.
 *  - pooled:    today, but blocks are read into buffers from a process-wide pool, each given back
 *               when grpc-js has serialized its message (the write callback), not a new buffer per
 *               block; a call has at most 4 out at once (which also bounds a slow reader's memory).
 *  - `-1MiB`:   1 MiB blocks (and chunks) instead of 256 KiB; `-32KiB`: 32 KiB blocks, for what
 *               a 4 KiB range read must read and verify (RANGE_VARIANTS, measured with ghz).
 *  - shared-fd: one file handle kept open for all calls instead of open + close per call.
 * Range reads verify every block they touch and send the requested part of it, like the agent.
 * Owns: the variants. Never: anything the real service relies on (it is not used by the agent).
 */
import { promises as fs } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { drained } from '@checkpoint-cache/service';
import { crc32c } from '@checkpoint-cache/checksum';
import {
  checkpointCacheServiceDefinition,
  type ReadRequest__Output,
  type ReadResponse,
} from '@checkpoint-cache/proto';

export const READ_VARIANTS = [
  'objects',
  'today',
  'readahead',
  'pooled',
  'pooled+readahead',
  'today-1MiB',
  'pooled+readahead-1MiB',
] as const;
/** Variants for small range reads (ghz): how much of a block each 4 KiB read costs. */
export const RANGE_VARIANTS = [
  'today',
  'pooled',
  'today-32KiB',
  'shared-fd',
  'pooled-32KiB+shared-fd',
] as const;
export type ReadVariant = (typeof READ_VARIANTS)[number] | (typeof RANGE_VARIANTS)[number];

interface Flags {
  blockSize: number;
  readahead: boolean;
  pooled: boolean;
  preencoded: boolean;
  /** Reuse one open file handle for every call instead of open + close per call. */
  sharedHandle?: boolean;
}

const KiB = 1024;
const B256 = 256 * KiB;
const M1 = 1024 * KiB;
const FLAGS: Record<ReadVariant, Flags> = {
  objects: { blockSize: B256, readahead: false, pooled: false, preencoded: false },
  today: { blockSize: B256, readahead: false, pooled: false, preencoded: true },
  readahead: { blockSize: B256, readahead: true, pooled: false, preencoded: true },
  pooled: { blockSize: B256, readahead: false, pooled: true, preencoded: true },
  'pooled+readahead': { blockSize: B256, readahead: true, pooled: true, preencoded: true },
  'today-1MiB': { blockSize: M1, readahead: false, pooled: false, preencoded: true },
  'pooled+readahead-1MiB': { blockSize: M1, readahead: true, pooled: true, preencoded: true },
  'today-32KiB': { blockSize: 32 * KiB, readahead: false, pooled: false, preencoded: true },
  'shared-fd': {
    blockSize: B256,
    readahead: false,
    pooled: false,
    preencoded: true,
    sharedHandle: true,
  },
  'pooled-32KiB+shared-fd': {
    blockSize: 32 * KiB,
    readahead: false,
    pooled: true,
    preencoded: true,
    sharedHandle: true,
  },
};

/** Room for tag + length of ReadResponse.chunk, offset, crc32c and data's tag + length. */
const PREFIX = 32;
/** Buffers one call may have out (read, or written but not yet serialized by grpc-js). */
const IN_FLIGHT_PER_CALL = 4;
/** Free buffers kept per block size for later calls. */
const POOL_FREE_MAX = 64;

interface Block {
  buffer: Buffer;
  /** The block's bytes inside `buffer`. */
  data: Buffer;
  offset: number;
}

export class ExperimentalReadService {
  private readonly crcs = new Map<number, Uint32Array>();
  private readonly pools = new Map<number, SharedBufferPool>();
  private sharedHandle: fs.FileHandle | undefined;
  private size = 0;
  private wholeCrc = 0;

  /** `fixedVariant`: serve that variant whatever the key (for ghz, whose configs name a key). */
  constructor(
    private readonly file: string,
    private readonly fixedVariant?: ReadVariant,
  ) {}

  /** Computes the block CRC32Cs (what the agent's sidecar holds) for every block size used. */
  async init(): Promise<void> {
    this.size = (await fs.stat(this.file)).size;
    const handle = await fs.open(this.file, 'r');
    try {
      for (const blockSize of new Set(Object.values(FLAGS).map((f) => f.blockSize))) {
        const crcs = new Uint32Array(Math.ceil(this.size / blockSize));
        const buffer = Buffer.allocUnsafe(blockSize);
        let whole = 0;
        for (let i = 0; i < crcs.length; i++) {
          const { bytesRead } = await handle.read(buffer, 0, blockSize, i * blockSize);
          const data = buffer.subarray(0, bytesRead);
          crcs[i] = crc32c(data);
          whole = crc32c(data, whole);
        }
        this.crcs.set(blockSize, crcs);
        this.wholeCrc = whole;
      }
    } finally {
      await handle.close();
    }
  }

  get fileSize(): number {
    return this.size;
  }

  addToServer(server: grpc.Server): void {
    const definition = checkpointCacheServiceDefinition();
    const read = definition.Read as grpc.MethodDefinition<ReadRequest__Output, ReadResponse>;
    const serialize = read.responseSerialize;
    const passThrough: grpc.ServiceDefinition = {
      ...definition,
      Read: {
        ...read,
        // A pre-encoded ReadResponse arrives as a Buffer and leaves as it is.
        responseSerialize: (value: ReadResponse | Buffer) =>
          Buffer.isBuffer(value) ? value : serialize(value),
      },
    };
    const handlers: grpc.UntypedServiceImplementation = Object.fromEntries(
      Object.keys(definition).map((name) => [
        name,
        (call: { emit(event: 'error', e: object): void }, callback?: grpc.sendUnaryData<never>) => {
          const error = { code: grpc.status.UNIMPLEMENTED, details: 'experimental read service' };
          // Streaming responses have no callback: the error goes on the call.
          if (callback) callback(error);
          else call.emit('error', error);
        },
      ]),
    );
    server.addService(passThrough, {
      ...handlers,
      Read: (call: grpc.ServerWritableStream<ReadRequest__Output, ReadResponse | Buffer>) => {
        this.read(call).catch((err: unknown) =>
          call.emit('error', { code: grpc.status.INTERNAL, details: String(err) }),
        );
      },
    });
  }

  private async read(
    call: grpc.ServerWritableStream<ReadRequest__Output, ReadResponse | Buffer>,
  ): Promise<void> {
    const flags = FLAGS[this.fixedVariant ?? (call.request.key as ReadVariant)];
    if (!flags) {
      call.emit('error', { code: grpc.status.NOT_FOUND, details: 'unknown variant' });
      return;
    }
    const { blockSize, readahead, pooled, preencoded } = flags;
    const crcs = this.crcs.get(blockSize) as Uint32Array;
    const size = this.size;
    const offset = Number(call.request.offset ?? 0);
    const length = call.request.length ?? null;
    const end = length === null ? size : offset + Number(length);
    if (offset > size || end > size) {
      call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'range outside the file' });
      return;
    }
    const shared = flags.sharedHandle ?? false;
    if (shared) this.sharedHandle ??= await fs.open(this.file, 'r');
    const handle = shared ? (this.sharedHandle as fs.FileHandle) : await fs.open(this.file, 'r');
    const lead = preencoded ? PREFIX : 0;
    const pool = pooled ? this.pool(lead + blockSize) : undefined;
    const limit = pooled ? new InFlightLimit(IN_FLIGHT_PER_CALL) : undefined;
    const readBlock = async (index: number): Promise<Block> => {
      const at = index * blockSize;
      const blockLength = Math.min(blockSize, size - at);
      await limit?.acquire();
      const buffer = pool ? pool.take() : Buffer.allocUnsafe(lead + blockLength);
      for (let done = 0; done < blockLength;) {
        const { bytesRead } = await handle.read(buffer, lead + done, blockLength - done, at + done);
        if (bytesRead === 0) throw new Error(`file ends at ${at + done}`);
        done += bytesRead;
      }
      return { buffer, data: buffer.subarray(lead, lead + blockLength), offset: at };
    };
    try {
      const header: ReadResponse = {
        header: {
          entry: { key: call.request.key, size, crc32c: this.wholeCrc },
          offset,
          length: end - offset,
          source: 'SOURCE_LOCAL_DISK',
        },
      };
      if (!call.write(header)) await drained(call);
      const first = Math.floor(offset / blockSize);
      const last = end > offset ? Math.ceil(end / blockSize) : first;
      let next: Promise<Block> | undefined = first < last ? readBlock(first) : undefined;
      for (let i = first; i < last && next && !call.cancelled; i++) {
        const block = await next;
        next = undefined;
        if (readahead && i + 1 < last) next = readBlock(i + 1);
        const crc = crc32c(block.data);
        if (crc !== crcs[i]) throw new Error(`block ${i} fails its CRC32C`);
        const message = this.message(block, offset, end, crc, preencoded);
        const release =
          pool && limit
            ? () => {
                pool.give(block.buffer);
                limit.release();
              }
            : undefined;
        const ok = call.write(message, release);
        if (!ok) await drained(call);
        if (!readahead && i + 1 < last) next = readBlock(i + 1);
      }
      if (next) await next.catch(() => undefined);
      call.end();
    } finally {
      limit?.close();
      if (!shared) await handle.close();
    }
  }

  private pool(size: number): SharedBufferPool {
    let pool = this.pools.get(size);
    if (!pool) this.pools.set(size, (pool = new SharedBufferPool(size, POOL_FREE_MAX)));
    return pool;
  }

  /**
   * The message for the part of `block` inside [start, end): the whole block in place, or (like
   * the agent) a piece with its own CRC32C, copied when pre-encoded.
   */
  private message(
    block: Block,
    start: number,
    end: number,
    blockCrc: number,
    preencoded: boolean,
  ): ReadResponse | Buffer {
    const from = Math.max(start, block.offset);
    const to = Math.min(end, block.offset + block.data.length);
    if (from === block.offset && to === block.offset + block.data.length) {
      return preencoded
        ? encodeChunk(block.buffer, block.data.length, block.offset, blockCrc)
        : { chunk: { offset: block.offset, data: block.data, crc32c: blockCrc } };
    }
    const piece = block.data.subarray(from - block.offset, to - block.offset);
    const crc = crc32c(piece);
    if (!preencoded) return { chunk: { offset: from, data: piece, crc32c: crc } };
    const framed = Buffer.allocUnsafe(PREFIX + piece.length);
    piece.copy(framed, PREFIX);
    return encodeChunk(framed, piece.length, from, crc);
  }
}

/**
 * Writes ReadResponse{chunk: Chunk{offset=1, crc32c=3, data=2}} framing into the PREFIX bytes in
 * front of the data (which sits at buffer[PREFIX..]); returns the encoded message, no copy.
 */
export function encodeChunk(buffer: Buffer, length: number, offset: number, crc: number): Buffer {
  const inner = 1 + varintLength(offset) + 1 + varintLength(crc) + 1 + varintLength(length);
  const body = inner + length;
  const head = 1 + varintLength(body) + inner;
  let p = PREFIX - head;
  const start = p;
  buffer[p++] = 0x12; // ReadResponse.chunk, length-delimited
  p = writeVarint(buffer, p, body);
  buffer[p++] = 0x08; // Chunk.offset, varint
  p = writeVarint(buffer, p, offset);
  buffer[p++] = 0x18; // Chunk.crc32c, varint
  p = writeVarint(buffer, p, crc);
  buffer[p++] = 0x12; // Chunk.data, length-delimited
  writeVarint(buffer, p, length);
  return buffer.subarray(start, PREFIX + length);
}

function varintLength(n: number): number {
  let bytes = 1;
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) bytes++;
  return bytes;
}

function writeVarint(buffer: Buffer, at: number, n: number): number {
  let p = at;
  let v = n;
  while (v >= 0x80) {
    buffer[p++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  buffer[p++] = v;
  return p;
}

/**
 * Block buffers shared by all calls: a buffer whose message grpc-js has serialized goes back on a
 * bounded free list and is read into again, by this call or the next one.
 */
class SharedBufferPool {
  private readonly free: Buffer[] = [];

  constructor(
    readonly size: number,
    private readonly maxFree: number,
  ) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(buffer: Buffer): void {
    if (this.free.length < this.maxFree) this.free.push(buffer);
  }
}

/** At most `limit` of one call's buffers out at once: bounds what a slow reader pins. */
class InFlightLimit {
  private out = 0;
  private readonly waiting: (() => void)[] = [];
  private closed = false;

  constructor(private readonly limit: number) {}

  acquire(): Promise<void> {
    if (this.closed || this.out < this.limit) {
      this.out++;
      return Promise.resolve();
    }
    return new Promise((resolve) =>
      this.waiting.push(() => {
        this.out++;
        resolve();
      }),
    );
  }

  release(): void {
    this.out--;
    this.waiting.shift()?.();
  }

  /** Unblocks anyone still waiting (the call ended). */
  close(): void {
    this.closed = true;
    for (const wake of this.waiting.splice(0)) wake();
  }
}
