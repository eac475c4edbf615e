/**
 * The framework's own limit: checkpointcache.v1.CheckpointCache answered from constants. Stat and
 * Touch return a fixed EntryInfo, Read streams a pre-made 256 KiB block over and over with its
 * CRC32C computed once, cut at the same block boundaries as the agent's reads. Same proto, same
 * serialization, same server options as the agent, and no disk, no verification, no Redis: what
 * is left is grpc-js itself, so the agent's figures divided by these are our own overhead.
 * Owns: the constant entries. Never: pretending to store anything (Write, Delete, List, Release
 * answer UNIMPLEMENTED).
 */
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { drained } from '@checkpoint-cache/service';
import { crc32c, crc32cCombine } from '@checkpoint-cache/checksum';
import {
  checkpointCacheServiceDefinition,
  type CheckpointCacheHandlers,
  type EntryInfo,
  type ReadRequest__Output,
  type ReadResponse,
} from '@checkpoint-cache/proto';

/** The agent's block size: chunks never span two blocks. */
const BLOCK_SIZE = 256 * 1024;
/** The agent's default --max-chunk-size. */
const DEFAULT_MAX_CHUNK_SIZE = 1024 * 1024;

export class ConstantCheckpointCacheService {
  private readonly block = randomBytes(BLOCK_SIZE);
  private readonly blockCrc = crc32c(this.block);
  private readonly entries = new Map<string, EntryInfo>();
  private readonly createdAtMs = Date.now();

  /** `sizes`: the keys it answers for and the size it claims for each. */
  constructor(sizes: Readonly<Record<string, number>>) {
    for (const [key, size] of Object.entries(sizes)) {
      this.entries.set(key, {
        key,
        jobId: 'bench',
        checkpointIds: [1],
        size,
        crc32c: this.wholeCrc(size),
        createdAtMs: this.createdAtMs,
        lastAccessMs: this.createdAtMs,
        ttlMs: 86_400_000,
        nodeId: 'constant',
      });
    }
  }

  addToServer(server: grpc.Server): void {
    const definition = checkpointCacheServiceDefinition();
    // Every RPC answers UNIMPLEMENTED unless overridden below, also RPCs added to the proto later.
    const handlers: grpc.UntypedServiceImplementation = Object.fromEntries(
      Object.keys(definition).map((name) => [
        name,
        (call: { emit(event: 'error', e: object): void }, callback?: grpc.sendUnaryData<never>) => {
          const error = { code: grpc.status.UNIMPLEMENTED, details: `${name}: constant service` };
          // Streaming responses have no callback: the error goes on the call.
          if (callback) callback(error);
          else call.emit('error', error);
        },
      ]),
    );
    const answers: Pick<CheckpointCacheHandlers, 'Stat' | 'Touch' | 'Read'> = {
      Stat: (call, callback) => this.answer(call.request.key, callback),
      Touch: (call, callback) => this.answer(call.request.key, callback),
      Read: (call) => {
        this.read(call).catch((err: unknown) =>
          call.emit('error', { code: grpc.status.INTERNAL, details: String(err) }),
        );
      },
    };
    server.addService(definition, { ...handlers, ...answers });
  }

  private answer(key: string, callback: grpc.sendUnaryData<EntryInfo>): void {
    const entry = this.entries.get(key);
    if (entry) callback(null, entry);
    else callback({ code: grpc.status.NOT_FOUND, details: `${key}: not a constant entry` });
  }

  private async read(
    call: grpc.ServerWritableStream<ReadRequest__Output, ReadResponse>,
  ): Promise<void> {
    const req = call.request;
    const entry = this.entries.get(req.key);
    const size = Number(entry?.size ?? 0);
    const length = req.length ?? size - req.offset;
    if (!entry || req.offset > size || req.offset + length > size) {
      call.emit('error', {
        code: entry ? grpc.status.INVALID_ARGUMENT : grpc.status.NOT_FOUND,
        details: `${req.key}: no such constant entry or range`,
      });
      return;
    }
    const maxChunk = Math.min(req.maxChunkSize || DEFAULT_MAX_CHUNK_SIZE, DEFAULT_MAX_CHUNK_SIZE);
    const header = { entry, offset: req.offset, length, source: 'SOURCE_LOCAL_DISK' as const };
    if (!call.write({ header })) await drained(call);
    const end = req.offset + length;
    for (let pos = req.offset; pos < end && !call.cancelled;) {
      const blockStart = pos - (pos % BLOCK_SIZE);
      const sliceEnd = Math.min(end, blockStart + BLOCK_SIZE);
      const stop = Math.min(sliceEnd, pos + maxChunk);
      const data = this.block.subarray(pos - blockStart, stop - blockStart);
      const crc = data.length === BLOCK_SIZE ? this.blockCrc : crc32c(data);
      if (!call.write({ chunk: { offset: pos, data, crc32c: crc } })) await drained(call);
      pos = stop;
    }
    call.end();
  }

  /** CRC32C of `size` bytes made of the block repeated. */
  private wholeCrc(size: number): number {
    let crc = 0;
    const whole = Math.floor(size / BLOCK_SIZE);
    for (let i = 0; i < whole; i++) crc = crc32cCombine(crc, this.blockCrc, BLOCK_SIZE);
    const tail = size - whole * BLOCK_SIZE;
    return tail > 0 ? crc32cCombine(crc, crc32c(this.block.subarray(0, tail)), tail) : crc;
  }
}
