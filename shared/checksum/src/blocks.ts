/**
 * Verification of consecutive checksum blocks read with one disk read. Entries store one CRC32C
 * per block; reads cover several blocks at a time (fewer syscalls, larger chunks) while small range
 * reads only touch the blocks they need.
 */
import { crc32c } from './crc32c';
import { crc32cCombine } from './crc32c-combine';

export type BlockCheck =
  | { ok: true; /** CRC32C of all of `data`. */ crc32c: number }
  | { ok: false; block: number; actual: number; expected: number | undefined };

/**
 * Checks `data`, which starts at block `firstBlock` and holds whole blocks of `blockSize` bytes
 * (the last one may be shorter), against `expected(block)`.
 */
export function checkBlocks(
  data: Uint8Array,
  firstBlock: number,
  blockSize: number,
  expected: (block: number) => number | undefined,
): BlockCheck {
  let whole = 0;
  for (let start = 0, block = firstBlock; start < data.length; start += blockSize, block++) {
    const length = Math.min(blockSize, data.length - start);
    const actual = crc32c(data.subarray(start, start + length));
    const want = expected(block);
    if (actual !== want) return { ok: false, block, actual, expected: want };
    whole = start === 0 ? actual : crc32cCombine(whole, actual, length);
  }
  return { ok: true, crc32c: whole };
}

/**
 * The whole blocks one read should cover: from the block holding `from` to the one holding
 * `end - 1`, at most `maxBytes` (rounded down to whole blocks, at least one block), never past
 * `size` (the entry's size; its last block may be shorter).
 */
export function blockSpan(
  from: number,
  end: number,
  blockSize: number,
  size: number,
  maxBytes: number,
): { start: number; length: number } {
  const most = Math.max(blockSize, Math.floor(maxBytes / blockSize) * blockSize);
  const start = Math.floor(from / blockSize) * blockSize;
  const lastBlockEnd = Math.min(Math.ceil(end / blockSize) * blockSize, size);
  return { start, length: Math.min(most, lastBlockEnd - start) };
}
