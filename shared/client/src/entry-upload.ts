/**
 * The client side of one Write: header first, then the source re-cut into chunks carrying their
 * offset and CRC32C, sent only as fast as the call stream drains.
 * Owns: chunking, per-chunk and whole-entry checksums, and write backpressure. Never: holding more
 * than one chunk plus grpc-js's own buffer of the source in memory.
 */
import { status, type ClientWritableStream, type ServiceError } from '@grpc/grpc-js';
import { crc32c, formatCrc32c } from '@checkpoint-cache/checksum';
import type {
  CheckpointCacheClient as GrpcClient,
  EntryInfo__Output,
  WriteRequest,
  WriteResponse__Output,
} from '@checkpoint-cache/proto';
import { Readable } from 'node:stream';
import { CheckpointCacheError } from './checkpoint-cache-error';
import { crc32cCombine } from '@checkpoint-cache/checksum';

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
}

export interface WriteResult {
  entry: EntryInfo__Output;
  /** False when the agent already held the same bytes and kept them. */
  created: boolean;
}

export interface UploadPlan {
  grpc: GrpcClient;
  key: string;
  source: Readable | Uint8Array;
  options: WriteOptions;
  chunkSize: number;
  idleMs: number;
}

export async function uploadEntry(plan: UploadPlan): Promise<WriteResult> {
  const { grpc, key, source, options, chunkSize, idleMs } = plan;
  const isBuffer = source instanceof Uint8Array;
  const header = {
    key,
    jobId: options.jobId ?? '',
    checkpointId: options.checkpointId ?? 0,
    size: options.size ?? (isBuffer ? source.length : undefined),
    crc32c: options.crc32c ?? (isBuffer ? crc32c(source) : undefined),
    ttlMs: options.ttlMs ?? 0,
  };

  // Set by the call's callback, which may run while the loop below awaits the source.
  const outcome: { settled: boolean; error?: Error } = { settled: false };
  let timedOut = false;
  let wake: (() => void) | undefined;
  let call!: ClientWritableStream<WriteRequest>;
  const response = new Promise<WriteResponse__Output>((resolve, reject) => {
    call = grpc.write((err: ServiceError | null, res?: WriteResponse__Output) => {
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
    });
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
  const send = async (message: WriteRequest): Promise<void> => {
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
  const sendChunk = async (data: Buffer): Promise<void> => {
    const chunkCrc = crc32c(data);
    whole = crc32cCombine(whole, chunkCrc, data.length);
    const message: WriteRequest = { chunk: { offset, data, crc32c: chunkCrc } };
    offset += data.length;
    await send(message);
  };

  try {
    await send({ header });
    if (isBuffer) {
      const buffer = Buffer.from(source.buffer, source.byteOffset, source.length);
      for (let at = 0; at < buffer.length; at += chunkSize) {
        await sendChunk(buffer.subarray(at, at + chunkSize));
      }
    } else {
      const pending: Buffer[] = [];
      let pendingBytes = 0;
      for await (const piece of source) {
        const buffer = typeof piece === 'string' ? Buffer.from(piece) : (piece as Buffer);
        pending.push(buffer);
        pendingBytes += buffer.length;
        if (pendingBytes < chunkSize) continue;
        let joined = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
        while (joined.length >= chunkSize) {
          await sendChunk(joined.subarray(0, chunkSize));
          joined = joined.subarray(chunkSize);
        }
        pending.length = 0;
        pendingBytes = joined.length;
        if (joined.length > 0) pending.push(joined);
      }
      if (pendingBytes > 0) await sendChunk(Buffer.concat(pending, pendingBytes));
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
    if (source instanceof Readable) source.destroy();
    throw err;
  }
}

function earlyResponse(): Error {
  return new CheckpointCacheError(
    status.INTERNAL,
    'the agent answered before the client finished sending',
    'Write',
  );
}
