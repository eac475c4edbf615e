/**
 * The bytes of a Write, cut into chunks that sit in buffers from allocWriteChunk (headroom in
 * front for the message header), each with its CRC32C computed once:
 * - a file: read straight into the chunk buffers, the next chunk read while this one is sent;
 * - a stream: its pieces copied into the chunk buffer being filled (one copy, no concatenation);
 * - a caller's buffer: copied chunk by chunk; its CRC32Cs come from the one pass that computed the
 *   whole entry's CRC32C for the header.
 * Owns: chunking and reading the source. Never: sending, or holding more than the chunk being sent
 * and the one being read.
 */
import { promises as fs } from 'node:fs';
import type { Readable } from 'node:stream';
import { crc32c, crc32cCombine } from '@checkpoint-cache/checksum';
import { allocWriteChunk } from './write-wire';

export interface UploadChunk {
  /** In a buffer from allocWriteChunk. */
  data: Buffer;
  crc32c: number;
}

/** Where a Write's bytes come from. */
export type UploadSource =
  | { kind: 'file'; path: string }
  | { kind: 'stream'; stream: Readable }
  | { kind: 'buffer'; buffer: Buffer };

/** The CRC32C of each chunk of `buffer` and of the whole, in one pass over its bytes. */
export function bufferChunkCrcs(
  buffer: Buffer,
  chunkSize: number,
): { chunks: number[]; whole: number } {
  const chunks: number[] = [];
  let whole = 0;
  for (let at = 0; at < buffer.length; at += chunkSize) {
    const piece = buffer.subarray(at, at + chunkSize);
    const crc = crc32c(piece);
    chunks.push(crc);
    whole = at === 0 ? crc : crc32cCombine(whole, crc, piece.length);
  }
  return { chunks, whole };
}

export async function* bufferChunks(
  buffer: Buffer,
  chunkSize: number,
  crcs: readonly number[],
): AsyncGenerator<UploadChunk> {
  for (let at = 0, i = 0; at < buffer.length; at += chunkSize, i++) {
    const piece = buffer.subarray(at, at + chunkSize);
    const data = allocWriteChunk(piece.length);
    piece.copy(data);
    yield { data, crc32c: crcs[i] as number };
  }
}

export async function* streamChunks(
  stream: Readable,
  chunkSize: number,
): AsyncGenerator<UploadChunk> {
  let chunk = allocWriteChunk(chunkSize);
  let fill = 0;
  for await (const piece of stream) {
    const bytes = typeof piece === 'string' ? Buffer.from(piece) : (piece as Buffer);
    for (let at = 0; at < bytes.length;) {
      const n = bytes.copy(chunk, fill, at, at + (chunkSize - fill));
      fill += n;
      at += n;
      if (fill === chunkSize) {
        yield { data: chunk, crc32c: crc32c(chunk) };
        chunk = allocWriteChunk(chunkSize);
        fill = 0;
      }
    }
  }
  if (fill > 0) {
    const data = chunk.subarray(0, fill);
    yield { data, crc32c: crc32c(data) };
  }
}

/** The file's chunks, up to its end as it is while being read (the header says the size). */
export async function* fileChunks(path: string, chunkSize: number): AsyncGenerator<UploadChunk> {
  const handle = await fs.open(path, 'r');
  let position = 0;
  const readChunk = async (): Promise<Buffer> => {
    const data = allocWriteChunk(chunkSize);
    let fill = 0;
    while (fill < chunkSize) {
      const { bytesRead } = await handle.read(data, fill, chunkSize - fill, position + fill);
      if (bytesRead === 0) break;
      fill += bytesRead;
    }
    position += fill;
    return fill === chunkSize ? data : data.subarray(0, fill);
  };
  let next: Promise<Buffer> | undefined = readChunk();
  try {
    while (next) {
      const data: Buffer = await next;
      // The next read runs while this chunk is checked and sent; a short read was the end.
      next = data.length === chunkSize ? readChunk() : undefined;
      // A failure of the read ahead is seen when it is awaited, or dropped if the upload stopped.
      next?.catch(() => undefined);
      if (data.length > 0) yield { data, crc32c: crc32c(data) };
    }
  } finally {
    await next?.catch(() => undefined);
    await handle.close();
  }
}
