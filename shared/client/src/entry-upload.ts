/**
 * The client side of one Write: header first, then the source's chunks (upload-chunks.ts), each
 * encoded once into its own buffer with its offset and CRC32C (write-chunk-encoding.ts) and, where
 * the process installed installZeroCopyWrites, already framed for gRPC; sent only as fast as the
 * call stream drains.
 * Owns: the call, the whole-entry checksum, write backpressure and the outcome. Never: holding
 * more than the chunks grpc-js buffers (16 messages) plus the one being read.
 */
import { status, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import { crc32cCombine, formatCrc32c } from '@checkpoint-cache/checksum';
import {
  checkpointCacheClientConstructor,
  type CheckpointCacheClient as GrpcClient,
  type EntryInfo__Output,
  type WriteRequest,
  type WriteResponse__Output,
} from '@checkpoint-cache/proto';
import { promises as fs } from 'node:fs';
import { CheckpointCacheError } from './checkpoint-cache-error';
import {
  bufferChunkCrcs,
  bufferChunks,
  fileChunks,
  streamChunks,
  type UploadChunk,
  type UploadSource,
} from './upload-chunks';
import {
  encodeWriteChunk,
  GRPC_PREFIX_BYTES,
  isGrpcFramed,
  zeroCopyWritesInstalled,
} from './write-wire';

export interface WriteOptions {
  /** Flink job that owns the entry (for `release`). Default empty. */
  jobId?: string;
  /** Checkpoint that first references the entry. Default 0. */
  checkpointId?: number;
  /** Expected size; the agent rejects the write (FAILED_PRECONDITION) when it differs. */
  size?: number;
  /** Expected CRC32C of the whole entry; computed up front when the source is a Buffer. */
  crc32c?: number;
  /** TTL of the entry in ms; default (0) the agent's. */
  ttlMs?: number;
  /** Told the size of every chunk handed to grpc-js (progress bars). */
  progress?: (bytes: number) => void;
}

export interface WriteResult {
  entry: EntryInfo__Output;
  /** False when the agent already held the same bytes and kept them. */
  created: boolean;
}

export interface UploadPlan {
  grpc: GrpcClient;
  key: string;
  source: UploadSource;
  options: WriteOptions;
  chunkSize: number;
  idleMs: number;
  /** Whether chunks may carry their gRPC prefix (framedWritesFor the channel). */
  framed: boolean;
}

export async function uploadEntry(plan: UploadPlan): Promise<WriteResult> {
  const { grpc, key, source, options, chunkSize, idleMs, framed } = plan;
  // A caller's buffer: every chunk's CRC32C and the whole entry's for the header in one pass.
  const bufferCrcs =
    source.kind === 'buffer' ? bufferChunkCrcs(source.buffer, chunkSize) : undefined;
  const knownSize =
    source.kind === 'buffer'
      ? source.buffer.length
      : source.kind === 'file'
        ? (await fs.stat(source.path)).size
        : undefined;
  const header = {
    key,
    jobId: options.jobId ?? '',
    checkpointId: options.checkpointId ?? 0,
    size: options.size ?? knownSize,
    crc32c: options.crc32c ?? bufferCrcs?.whole,
    ttlMs: options.ttlMs ?? 0,
  };

  // Set by the call's callback, which may run while the loop below awaits the source.
  const outcome: { settled: boolean; error?: Error } = { settled: false };
  let timedOut = false;
  let wake: (() => void) | undefined;
  let call!: ClientWritableStream<WriteRequest | Buffer>;
  const response = new Promise<WriteResponse__Output>((resolve, reject) => {
    const method = writeMethod();
    const done = (err: ServiceError | null, res?: WriteResponse__Output): void => {
      if (err) {
        const error = timedOut
          ? new CheckpointCacheError(
              status.DEADLINE_EXCEEDED,
              `the agent made no progress for ${idleMs} ms`,
              'Write',
              { key, cause: err },
            )
          : CheckpointCacheError.fromServiceError(err, 'Write', key);
        outcome.settled = true;
        outcome.error = error;
        reject(error);
      } else {
        outcome.settled = true;
        resolve(res as WriteResponse__Output);
      }
      wake?.();
    };
    call = grpc.makeClientStreamRequest<WriteRequest | Buffer, WriteResponse__Output>(
      method.path,
      serializeWrite,
      method.responseDeserialize,
      done,
    );
  });
  // Failures are also seen through `outcome`; this keeps an early one from being unhandled.
  response.catch(() => undefined);

  let watchdog: NodeJS.Timeout | undefined;
  const stall = (): void => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      timedOut = true;
      call.cancel();
    }, idleMs);
  };
  const unstall = (): void => clearTimeout(watchdog);

  /** Sends one message, waiting for the call to drain when grpc-js's buffer is full. */
  const send = async (message: WriteRequest | Buffer): Promise<void> => {
    if (outcome.settled) throw outcome.error ?? earlyResponse();
    if (call.write(message)) return;
    stall();
    await new Promise<void>((resolve) => {
      const done = (): void => {
        call.off('drain', done);
        wake = undefined;
        resolve();
      };
      wake = done;
      call.on('drain', done);
    });
    unstall();
    if (outcome.settled) throw outcome.error ?? earlyResponse();
  };

  let whole = 0;
  let offset = 0;
  const chunks: AsyncGenerator<UploadChunk> =
    source.kind === 'file'
      ? fileChunks(source.path, chunkSize)
      : source.kind === 'stream'
        ? streamChunks(source.stream, chunkSize)
        : bufferChunks(source.buffer, chunkSize, bufferCrcs?.chunks ?? []);

  try {
    await send({ header });
    for await (const { data, crc32c } of chunks) {
      whole = offset === 0 ? crc32c : crc32cCombine(whole, crc32c, data.length);
      const message = encodeWriteChunk(offset, data, crc32c, framed);
      offset += data.length;
      await send(message);
      options.progress?.(data.length);
    }
    call.end();
    stall();
    const result = await response;
    unstall();
    const entry = result.entry;
    if (!entry) {
      throw new CheckpointCacheError(
        status.INTERNAL,
        'the agent answered without an entry',
        'Write',
        {
          key,
        },
      );
    }
    if (entry.size !== offset || entry.crc32c !== whole) {
      throw new CheckpointCacheError(
        status.DATA_LOSS,
        `the agent stored ${entry.size} bytes with CRC32C ${formatCrc32c(entry.crc32c)}, ` +
          `the client sent ${offset} bytes with ${formatCrc32c(whole)}`,
        'Write',
        { key },
      );
    }
    return { entry, created: result.created };
  } catch (err) {
    unstall();
    if (!outcome.settled) call.cancel();
    if (source.kind === 'stream') source.stream.destroy();
    throw err;
  }
}

type WriteMethod = {
  path: string;
  requestSerialize: (value: WriteRequest) => Buffer;
  responseDeserialize: (bytes: Buffer) => WriteResponse__Output;
};

let writeMethodDefinition: WriteMethod | undefined;

function writeMethod(): WriteMethod {
  writeMethodDefinition ??= checkpointCacheClientConstructor().service['Write'] as WriteMethod;
  return writeMethodDefinition;
}

/** The header through the generated serializer; chunks are encoded already. */
function serializeWrite(value: WriteRequest | Buffer): Buffer {
  if (!Buffer.isBuffer(value)) return writeMethod().requestSerialize(value);
  // A framed chunk reaches grpc-js's own framing only if the patch is not installed: strip it.
  return isGrpcFramed(value) && !zeroCopyWritesInstalled()
    ? value.subarray(GRPC_PREFIX_BYTES)
    : value;
}

function earlyResponse(): Error {
  return new CheckpointCacheError(
    status.INTERNAL,
    'the agent answered before the client finished sending',
    'Write',
  );
}
