/**
 * Sends Write chunks without grpc-js copying them. grpc-js (1.14) frames every outgoing client
 * message by allocating 5 + length bytes and copying the message into it
 * (IdentityHandler.writeMessage in compression-filter): for a 1 MiB chunk a 1 MiB memcpy and a
 * fresh 1 MiB buffer. encodeWriteChunk can write the 5-byte prefix into the chunk's headroom and
 * mark the buffer; this module makes writeMessage hand such a buffer on as it is.
 *
 * Only the identity handler is patched: a channel that compresses (the
 * `grpc.default_compression_algorithm` option) must not be given framed chunks, and the upload
 * does not frame for one (framedWritesFor). Unmarked buffers are never affected. The buffer is not
 * written to again by the client (a new one per chunk), so grpc-js may keep it for retries.
 *
 * Installed explicitly, once per process, by whoever makes the process (the `ckc` command, the
 * bench); only when writeMessage is the one this was written against (checked by its source).
 * Without it chunks are still encoded once by hand and grpc-js adds its copy, as for any message.
 * Owns: the patch. Never: the encoding (write-chunk-encoding.ts), installing itself as a side
 * effect of an import or a constructor.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import { createRequire } from 'node:module';

export { GRPC_PREFIX_BYTES } from '@checkpoint-cache/proto';

const GRPC_FRAMED: unique symbol = Symbol('checkpoint-cache.client.grpcFramed');

type WriteMessage = (this: unknown, message: Buffer, compress: boolean) => Promise<Buffer>;

/** Marks `buffer` as starting with its own gRPC message prefix. */
export function markGrpcFramed(buffer: Buffer): void {
  (buffer as Buffer & Record<typeof GRPC_FRAMED, boolean>)[GRPC_FRAMED] = true;
}

/** Whether `value` is a buffer encodeWriteChunk framed. */
export function isGrpcFramed(value: unknown): value is Buffer {
  return (
    Buffer.isBuffer(value) &&
    (value as Buffer & Partial<Record<typeof GRPC_FRAMED, boolean>>)[GRPC_FRAMED] === true
  );
}

let installed: boolean | undefined;

/**
 * Patches grpc-js so that pre-framed Write chunks are sent as they are; idempotent. False when
 * this grpc-js is not the one the patch was written against (chunks are then copied by grpc-js).
 */
export function installZeroCopyWrites(): boolean {
  installed ??= install();
  return installed;
}

/** Whether installZeroCopyWrites succeeded in this process (never installs it). */
export function zeroCopyWritesInstalled(): boolean {
  return installed === true;
}

/**
 * Whether a channel with these options may be given framed chunks: the patch is installed and the
 * channel does not compress (a compressing handler would take the prefix for message bytes).
 */
export function framedWritesFor(channelOptions: ChannelOptions): boolean {
  const algorithm = channelOptions['grpc.default_compression_algorithm'] as number | undefined;
  return installed === true && (algorithm === undefined || algorithm === 0);
}

function install(): boolean {
  let proto: { writeMessage?: WriteMessage } | undefined;
  try {
    const filters = createRequire(__filename)('@grpc/grpc-js/build/src/compression-filter') as {
      CompressionFilter?: new (
        options: object,
        shared: object,
      ) => { sendCompression?: { writeMessage?: WriteMessage } };
    };
    // The identity handler class is not exported; a filter without options holds one.
    const handler = filters.CompressionFilter
      ? new filters.CompressionFilter({}, {}).sendCompression
      : undefined;
    proto = handler ? (Object.getPrototypeOf(handler) as typeof proto) : undefined;
  } catch {
    return false;
  }
  const original = proto?.writeMessage;
  if (!proto || typeof original !== 'function' || !isExpected(original)) return false;
  proto.writeMessage = function writeMessage(
    this: unknown,
    message: Buffer,
    compress: boolean,
  ): Promise<Buffer> {
    if (!compress && isGrpcFramed(message)) return Promise.resolve(message);
    return original.call(this, message, compress);
  };
  return true;
}

/** The copy this module removes, and nothing else (the identity handler's framing). */
function isExpected(fn: WriteMessage): boolean {
  const source = fn.toString().replace(/\s+/g, ' ');
  return (
    source.includes('Buffer.allocUnsafe(message.length + 5)') &&
    source.includes('output.writeUInt8(0, 0)') &&
    source.includes('output.writeUInt32BE(message.length, 1)') &&
    source.includes('message.copy(output, 5)') &&
    !source.includes('compressMessage')
  );
}
