/**
 * Write chunks encoded by hand into the buffer their bytes are read or copied into: every chunk
 * buffer keeps WRITE_CHUNK_HEADROOM free bytes in front of its data, and the WriteRequest/Chunk
 * header (and, when framed, the 5-byte gRPC message prefix) is written there once the CRC32C is
 * known. So a chunk reaches grpc-js as one buffer, allocated once, without protobufjs walking or
 * copying the payload. The encoding is canonical protobuf (checked against the generated decoder
 * in the tests): WriteRequest { chunk (2): Chunk { offset (1), crc32c (3), data (2) } }, the
 * payload last so that the header can be written after the data is in place.
 * Owns: that encoding and the buffer layout. Never: sending, or deciding whether to frame.
 */
import {
  CHUNK_CRC32C_TAG,
  CHUNK_DATA_TAG,
  CHUNK_OFFSET_TAG,
  GRPC_PREFIX_BYTES,
  STREAM_CHUNK_TAG,
  varintLength,
  writeVarint,
} from '@checkpoint-cache/proto';
import { markGrpcFramed } from './write-framing';

/** Largest header: tag + length of Chunk, offset (up to 2^53: 8 bytes), crc32c, data's length. */
const MAX_CHUNK_HEADER = 1 + 5 + 1 + 8 + 1 + 5 + 1 + 5;

/** Free bytes in front of the data of a buffer from allocWriteChunk. */
export const WRITE_CHUNK_HEADROOM = GRPC_PREFIX_BYTES + MAX_CHUNK_HEADER;

/** Memory allocWriteChunk handed out: only its headroom may be written over. */
const chunkMemory = new WeakSet<ArrayBufferLike>();

/**
 * Room for up to `size` data bytes with the headroom in front. Its own memory (not Node's shared
 * pool), so that nothing else lives in the headroom.
 */
export function allocWriteChunk(size: number): Buffer {
  const whole = Buffer.allocUnsafeSlow(WRITE_CHUNK_HEADROOM + size);
  chunkMemory.add(whole.buffer);
  return whole.subarray(WRITE_CHUNK_HEADROOM);
}

/**
 * The serialized WriteRequest for one chunk, in the headroom of `data` when it came from
 * allocWriteChunk (or is a prefix of such); any other bytes are copied into a new chunk buffer. With `framed`, the gRPC prefix goes in front
 * too and the result is marked as framed (write-framing.ts).
 */
export function encodeWriteChunk(
  offset: number,
  data: Buffer,
  crc32c: number,
  framed: boolean,
): Buffer {
  const inner =
    1 +
    varintLength(offset) +
    1 +
    varintLength(crc32c) +
    1 +
    varintLength(data.length) +
    data.length;
  const headerLength = 1 + varintLength(inner) + (inner - data.length);
  const front = (framed ? GRPC_PREFIX_BYTES : 0) + headerLength;
  if (data.byteOffset !== WRITE_CHUNK_HEADROOM || !chunkMemory.has(data.buffer)) {
    const copy = allocWriteChunk(data.length);
    data.copy(copy);
    data = copy;
  }
  const out = Buffer.from(data.buffer, data.byteOffset - front, front + data.length);
  let pos = 0;
  if (framed) {
    out[0] = 0; // not compressed
    out.writeUInt32BE(headerLength + data.length, 1);
    pos = GRPC_PREFIX_BYTES;
    markGrpcFramed(out);
  }
  out[pos++] = STREAM_CHUNK_TAG;
  pos = writeVarint(out, pos, inner);
  out[pos++] = CHUNK_OFFSET_TAG;
  pos = writeVarint(out, pos, offset);
  out[pos++] = CHUNK_CRC32C_TAG;
  pos = writeVarint(out, pos, crc32c);
  out[pos++] = CHUNK_DATA_TAG;
  writeVarint(out, pos, data.length);
  return out;
}
