/**
 * Decodes Write chunks without protobufjs: the chunk's `data` is a slice of the message grpc-js
 * received (no copy, no object per field), which the write path hands to the file as it is.
 *
 * Only the one unambiguous shape is taken this way, the shape every client sends:
 *   WriteRequest { chunk (2): Chunk { offset (1)?, crc32c (3)?, data (2) } }
 * each Chunk field at most once, in any order, with its proper wire type, `offset` at most
 * 2^53 - 1, `crc32c` at most 2^32 - 1, and nothing else in either message. Anything else (a
 * header, unknown or repeated fields, a number past its bounds, bytes that are no protobuf at all)
 * is left to the generated deserializer behind the wire check (wire-check.ts), which accepts and
 * rejects it exactly as before; so this decoder can only ever agree with protobufjs, never accept
 * what the checked path would refuse (tested with raw frames and against the generated decoder).
 * Owns: that fast path. Never: rules about what the values mean (offsets, CRCs: StagedWrite).
 */
import type * as grpc from '@grpc/grpc-js';
import type { WriteRequest__Output } from '@checkpoint-cache/proto';

const WRITE_REQUEST_CHUNK = (2 << 3) | 2;
const CHUNK_OFFSET = (1 << 3) | 0;
const CHUNK_DATA = (2 << 3) | 2;
const CHUNK_CRC32C = (3 << 3) | 0;

/** Marks a varint that is not taken here (too long, past its bound, cut short). */
const NOT_TAKEN = -1;

/**
 * A base-128 varint at `pos` of at most `maxBytes` bytes and at most `max`; NOT_TAKEN otherwise.
 * Values stay below 2^53, so the arithmetic is exact in a double.
 */
function readVarint(buf: Buffer, pos: number, end: number, maxBytes: number, max: number): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < maxBytes && pos + i < end; i++) {
    const byte = buf[pos + i] as number;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      // A trailing zero byte (a non-minimal varint) is valid protobuf but left to the slow path.
      if (i > 0 && byte === 0) return NOT_TAKEN;
      return value <= max ? value : NOT_TAKEN;
    }
    scale *= 128;
  }
  return NOT_TAKEN;
}

function varintBytes(value: number): number {
  let n = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/** The chunk `bytes` holds, if it has the one shape taken here; undefined otherwise. */
export function decodeWriteChunk(bytes: Buffer): WriteRequest__Output | undefined {
  const end = bytes.length;
  if (end < 2 || bytes[0] !== WRITE_REQUEST_CHUNK) return undefined;
  const innerLength = readVarint(bytes, 1, end, 5, end);
  if (innerLength === NOT_TAKEN) return undefined;
  let pos = 1 + varintBytes(innerLength);
  if (pos + innerLength !== end) return undefined;
  let offset: number | undefined;
  let crc32c: number | undefined;
  let data: Buffer | undefined;
  while (pos < end) {
    const tag = bytes[pos++];
    if (tag === CHUNK_OFFSET && offset === undefined) {
      offset = readVarint(bytes, pos, end, 8, Number.MAX_SAFE_INTEGER);
      if (offset === NOT_TAKEN) return undefined;
      pos += varintBytes(offset);
    } else if (tag === CHUNK_CRC32C && crc32c === undefined) {
      crc32c = readVarint(bytes, pos, end, 5, 0xffffffff);
      if (crc32c === NOT_TAKEN) return undefined;
      pos += varintBytes(crc32c);
    } else if (tag === CHUNK_DATA && data === undefined) {
      const length = readVarint(bytes, pos, end, 4, end);
      if (length === NOT_TAKEN) return undefined;
      pos += varintBytes(length);
      if (pos + length > end) return undefined;
      data = bytes.subarray(pos, pos + length);
      pos += length;
    } else {
      return undefined;
    }
  }
  if (data === undefined) return undefined;
  // What proto-loader makes of the same bytes (defaults on, oneofs named, optional fields only
  // when present).
  const chunk =
    crc32c === undefined
      ? { offset: offset ?? 0, data }
      : { offset: offset ?? 0, data, crc32c, _crc32c: 'crc32c' as const };
  return { chunk, kind: 'chunk' };
}

/**
 * `write` (the Write definition with the checked deserializer) taking chunks through
 * decodeWriteChunk first.
 */
export function writeMethodDefinition(
  write: grpc.MethodDefinition<unknown, unknown>,
): grpc.MethodDefinition<unknown, unknown> {
  const checked = write.requestDeserialize;
  return {
    ...write,
    requestDeserialize: (bytes: Buffer) => decodeWriteChunk(bytes) ?? checked(bytes),
  };
}
