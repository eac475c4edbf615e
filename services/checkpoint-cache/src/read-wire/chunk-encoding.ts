/**
 * Read chunks encoded by hand, straight into the buffer the bytes were read into: the disk store
 * leaves CHUNK_HEADROOM free bytes in front of every block, and the ReadResponse/Chunk header is
 * written there, so a chunk reaches grpc-js without protobufjs walking or copying its payload.
 * The encoding is canonical protobuf (checked against the generated decoder in the tests):
 *   ReadResponse { chunk (2): Chunk { crc32c (3), offset (1), data (2) } }
 * Fields are written in the order crc32c, offset, data so that the payload ends the message.
 */
import { CHUNK_HEADROOM } from '@checkpoint-cache/cache';
import {
  CHUNK_CRC32C_TAG,
  CHUNK_DATA_TAG,
  CHUNK_OFFSET_TAG,
  GRPC_PREFIX_BYTES,
  STREAM_CHUNK_TAG,
  varintLength,
  writeVarint,
} from '@checkpoint-cache/proto';
import { GRPC_FRAMED } from './grpc-framing';

/**
 * The serialized ReadResponse for one chunk; uses the headroom before `data` when it has some.
 * With `framed` and room for it, the 5-byte gRPC message prefix goes in front as well and the
 * buffer is marked GRPC_FRAMED (see grpc-framing.ts).
 */
export function encodeReadChunk(
  offset: number,
  data: Buffer,
  crc32c: number,
  headroom: number,
  framed = false,
): Buffer {
  const inner =
    1 +
    varintLength(crc32c) +
    1 +
    varintLength(offset) +
    1 +
    varintLength(data.length) +
    data.length;
  const headerLength = 1 + varintLength(inner) + (inner - data.length);
  const prefix = framed ? GRPC_PREFIX_BYTES : 0;
  const front = prefix + headerLength;
  let out: Buffer;
  if (headroom >= front) {
    out = Buffer.from(data.buffer, data.byteOffset - front, front + data.length);
  } else {
    out = Buffer.allocUnsafe(front + data.length);
    data.copy(out, front);
  }
  let pos = 0;
  if (framed) {
    out[0] = 0; // not compressed
    out.writeUInt32BE(headerLength + data.length, 1);
    pos = GRPC_PREFIX_BYTES;
    (out as Buffer & Record<typeof GRPC_FRAMED, boolean>)[GRPC_FRAMED] = true;
  }
  out[pos++] = STREAM_CHUNK_TAG;
  pos = writeVarint(out, pos, inner);
  out[pos++] = CHUNK_CRC32C_TAG;
  pos = writeVarint(out, pos, crc32c);
  out[pos++] = CHUNK_OFFSET_TAG;
  pos = writeVarint(out, pos, offset);
  out[pos++] = CHUNK_DATA_TAG;
  writeVarint(out, pos, data.length);
  return out;
}

/** Largest header encodeReadChunk writes; the store's headroom must be at least this. */
export const MAX_CHUNK_HEADER = 1 + 5 + 1 + 5 + 1 + 8 + 1 + 5;
if (CHUNK_HEADROOM < GRPC_PREFIX_BYTES + MAX_CHUNK_HEADER) {
  throw new Error('CHUNK_HEADROOM is too small');
}
