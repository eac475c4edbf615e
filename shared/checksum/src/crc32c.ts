/** CRC32C (Castagnoli) over the native implementation. */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';

/** CRC32C of `data`, continuing from `previous` (the CRC of the bytes before it) when given. */
export function crc32c(data: Uint8Array, previous = 0): number {
  return nativeCrc32c(data as Buffer, previous) >>> 0;
}
