/**
 * The few protobuf and gRPC wire facts that the hand-written chunk encoders share: the agent
 * writes Read chunks and the TypeScript client writes Write chunks straight into the buffers that
 * hold their payload (services' read-wire, shared/client's write-wire), both as canonical protobuf.
 * Owns: varints, the Chunk field tags and the gRPC message prefix's size. Never: buffers or I/O.
 */

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

/** `chunk` is field 2 of both WriteRequest and ReadResponse (a length-delimited Chunk). */
export const STREAM_CHUNK_TAG = (2 << 3) | WIRE_LEN;
/** Chunk's fields: offset (1, varint), data (2, bytes), crc32c (3, varint). */
export const CHUNK_OFFSET_TAG = (1 << 3) | WIRE_VARINT;
export const CHUNK_DATA_TAG = (2 << 3) | WIRE_LEN;
export const CHUNK_CRC32C_TAG = (3 << 3) | WIRE_VARINT;

/** A gRPC message's prefix: a compressed flag and a 4-byte big-endian length. */
export const GRPC_PREFIX_BYTES = 5;

/**
 * Bytes of `value` (a non-negative integer up to 2^53) as a varint. Division rather than bit
 * shifts, which would truncate offsets above 2^31.
 */
export function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/** Writes `value` as a varint at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    buf[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[pos++] = value;
  return pos;
}
