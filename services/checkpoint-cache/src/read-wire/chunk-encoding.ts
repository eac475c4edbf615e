/**
 * Read chunks encoded by hand, straight into the buffer the bytes were read into: the disk store
 * leaves CHUNK_HEADROOM free bytes in front of every block, and the ReadResponse/Chunk header is
 * written there, so a chunk reaches grpc-js without protobufjs walking or copying its payload.
 * The encoding is canonical protobuf (checked against the generated decoder in the tests):
 *   ReadResponse { chunk (2): Chunk { crc32c (3), offset (1), data (2) } }
 * Fields are written in the order crc32c, offset, data so that the payload ends the message.
 */
import { CHUNK_HEADROOM } from '@checkpoint-cache/cache';
import { GRPC_FRAMED, GRPC_PREFIX_BYTES } from './grpc-framing';

const WIRE_VARINT = 0;
const WIRE_LEN = 2;
const READ_RESPONSE_CHUNK = (2 << 3) | WIRE_LEN;
const CHUNK_OFFSET = (1 << 3) | WIRE_VARINT;
const CHUNK_DATA = (2 << 3) | WIRE_LEN;
const CHUNK_CRC32C = (3 << 3) | WIRE_VARINT;

function varintLength(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

function writeVarint(buf: Buffer, pos: number, value: number): number {
  while (value >= 0x80) {
    buf[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  buf[pos++] = value;
  return pos;
}

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
  out[pos++] = READ_RESPONSE_CHUNK;
  pos = writeVarint(out, pos, inner);
  out[pos++] = CHUNK_CRC32C;
  pos = writeVarint(out, pos, crc32c);
  out[pos++] = CHUNK_OFFSET;
  pos = writeVarint(out, pos, offset);
  out[pos++] = CHUNK_DATA;
  writeVarint(out, pos, data.length);
  return out;
}

/** Largest header encodeReadChunk writes; the store's headroom must be at least this. */
export const MAX_CHUNK_HEADER = 1 + 5 + 1 + 5 + 1 + 8 + 1 + 5;
if (CHUNK_HEADROOM < GRPC_PREFIX_BYTES + MAX_CHUNK_HEADER) {
  throw new Error('CHUNK_HEADROOM is too small');
}
