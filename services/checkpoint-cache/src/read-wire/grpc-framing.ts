/**
 * Sends Read chunks without grpc-js copying them. grpc-js (1.14) frames every outgoing message by
 * allocating a buffer of 5 + length bytes and copying the message into it
 * (BaseServerInterceptingCall.serializeMessage): for a 256 KiB chunk that is a 256 KiB memcpy and
 * a 256 KiB allocation the garbage collector has to find again. Read chunks already sit behind
 * CHUNK_HEADROOM free bytes, so encodeReadChunk can write the 5-byte gRPC prefix there too and mark
 * the buffer; this module makes serializeMessage hand such a buffer on as it is.
 *
 * The buffer must stay untouched until grpc-js calls the write's callback. It does: Node's HTTP/2
 * stream completes a write only once its bytes have gone to the socket, and the read path gives a
 * block back to its pool only in that callback.
 *
 * Installed explicitly, once per process, by whoever starts the gRPC server (the node agent, at
 * start-up, reporting the outcome), and only when serializeMessage is the one this was written
 * against (checked by its source); otherwise nothing is changed and chunks are copied as before.
 * Until it is installed the service does not frame chunks. Buffers without the mark are never
 * affected, whoever sends them.
 * Owns: the patch. Never: the encoding (chunk-encoding.ts), installing itself as a side effect.
 */
import { createRequire } from 'node:module';

/** Set on a Buffer that already starts with its 5-byte gRPC message prefix. */
export const GRPC_FRAMED: unique symbol = Symbol('checkpoint-cache.grpcFramed');
export { GRPC_PREFIX_BYTES } from '@checkpoint-cache/proto';

type Serialize = (this: unknown, value: unknown) => Buffer;

/** Whether `value` is a buffer encodeReadChunk framed (it starts with the gRPC prefix). */
export function isGrpcFramed(value: Buffer): boolean {
  return (value as Buffer & Partial<Record<typeof GRPC_FRAMED, boolean>>)[GRPC_FRAMED] === true;
}

let installed: boolean | undefined;

/**
 * Patches grpc-js so that pre-framed chunks are sent as they are; idempotent. False when this
 * grpc-js is not the one the patch was written against (chunks are then copied, as without it).
 */
export function installZeroCopyFraming(): boolean {
  installed ??= install();
  return installed;
}

/** Whether installZeroCopyFraming succeeded in this process (never installs it). */
export function zeroCopyFramingInstalled(): boolean {
  return installed === true;
}

function install(): boolean {
  let proto: { serializeMessage?: Serialize } | undefined;
  try {
    const interceptors = createRequire(__filename)(
      '@grpc/grpc-js/build/src/server-interceptors',
    ) as { BaseServerInterceptingCall?: { prototype: { serializeMessage?: Serialize } } };
    proto = interceptors.BaseServerInterceptingCall?.prototype;
  } catch {
    return false;
  }
  const original = proto?.serializeMessage;
  if (!proto || typeof original !== 'function' || !isExpected(original)) return false;
  proto.serializeMessage = function serializeMessage(this: unknown, value: unknown): Buffer {
    if (Buffer.isBuffer(value) && isGrpcFramed(value)) return value;
    return original.call(this, value);
  };
  return true;
}

/** The copy this module removes, and nothing else (no compression, no other framing). */
function isExpected(fn: Serialize): boolean {
  const source = fn.toString().replace(/\s+/g, ' ');
  return (
    source.includes('this.handler.serialize(value)') &&
    source.includes('Buffer.allocUnsafe(byteLength + 5)') &&
    source.includes('output.writeUInt8(0, 0)') &&
    source.includes('output.writeUInt32BE(byteLength, 1)') &&
    source.includes('messageBuffer.copy(output, 5)')
  );
}
