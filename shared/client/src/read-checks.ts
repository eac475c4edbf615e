/**
 * The checks a read applies to what the agent streams: the header against the range asked for,
 * each chunk against its CRC32C and the position reached. Pure functions, no I/O.
 * Owns: what counts as a bad header or chunk and how it is described. Never: what the read does
 * about it (the fallback policy and the read stream decide).
 */
import { crc32c, formatCrc32c } from '@checkpoint-cache/checksum';
import type { ReadHeader__Output } from '@checkpoint-cache/proto';
import type { LocalReadFault } from './fallback-policy';

/** Why `header` does not describe the range `offset`+`length` asked for; undefined when it does. */
export function headerProblem(
  header: ReadHeader__Output,
  offset: number,
  length: number | undefined,
): string | undefined {
  const entry = header.entry;
  if (header.offset !== offset) return `header offset ${header.offset}, asked for ${offset}`;
  if (length !== undefined && header.length !== length) {
    return `header length ${header.length}, asked for ${length}`;
  }
  if (entry && header.offset + header.length > entry.size) {
    return `header range ${header.offset}+${header.length} exceeds entry size ${entry.size}`;
  }
  if (entry && length === undefined && header.offset + header.length !== entry.size) {
    return `header range ${header.offset}+${header.length} stops before the end (${entry.size})`;
  }
  return undefined;
}

export type ChunkCheck =
  | { ok: true; /** CRC32C of the chunk's bytes. */ crc32c: number }
  | { ok: false; fault: LocalReadFault; detail: string };

/**
 * Checks a streamed chunk that should start at `position` and not run past `end` (the header's
 * end, when known), against the CRC32C the agent sent with it.
 */
export function checkChunk(
  chunk: { offset: number; data: Buffer; crc32c?: number | null },
  position: number,
  end: number | undefined,
): ChunkCheck {
  const { offset, data } = chunk;
  if (offset !== position) {
    return {
      ok: false,
      fault: 'OFFSET_MISMATCH',
      detail: `chunk at offset ${offset}, expected ${position}`,
    };
  }
  const expected = chunk.crc32c ?? undefined;
  const actual = crc32c(data);
  if (expected === undefined || expected !== actual) {
    return {
      ok: false,
      fault: 'CHECKSUM_MISMATCH',
      detail:
        `chunk at offset ${offset} (${data.length} bytes) has CRC32C ${formatCrc32c(actual)}, ` +
        `agent sent ${expected === undefined ? 'none' : formatCrc32c(expected)}`,
    };
  }
  if (end !== undefined && offset + data.length > end) {
    return {
      ok: false,
      fault: 'PROTOCOL_ERROR',
      detail: `chunk at offset ${offset} runs past ${end}`,
    };
  }
  return { ok: true, crc32c: actual };
}
