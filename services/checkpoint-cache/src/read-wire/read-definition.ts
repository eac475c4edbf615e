/**
 * The Read method as the server registers it: its response serializer passes chunks that
 * encodeReadChunk already encoded through unchanged.
 * Owns: that serializer. Never: the other methods' definitions.
 */
import type * as grpc from '@grpc/grpc-js';
import { GRPC_PREFIX_BYTES, isGrpcFramed } from './grpc-framing';

/** `read` (the generated Read definition) with a serializer that leaves encoded chunks alone. */
export function readMethodDefinition(
  read: grpc.MethodDefinition<unknown, unknown>,
): grpc.MethodDefinition<unknown, unknown> {
  const serialize = read.responseSerialize;
  return {
    ...read,
    // Chunks are encoded already. A framed one reaches this only when the zero-copy patch
    // missed the grpc-js copy serving the call (grpc-framing.ts): that copy frames it itself.
    responseSerialize: (value: unknown) => {
      if (!Buffer.isBuffer(value)) return serialize(value);
      return isGrpcFramed(value) ? value.subarray(GRPC_PREFIX_BYTES) : value;
    },
  };
}
