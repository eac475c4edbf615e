/**
 * CRC32C (Castagnoli), the checksum of every entry and chunk on disk and on the wire.
 * Owns: the algorithm choice. Java clients use java.util.zip.CRC32C, which agrees with this.
 */
import { crc32c } from './crc32c';

export { crc32c };

/** Accumulates the CRC32C of bytes seen in order. */
export class Crc32cAccumulator {
  private state = 0;
  private bytes = 0;

  update(data: Uint8Array): this {
    this.state = crc32c(data, this.state);
    this.bytes += data.length;
    return this;
  }

  get value(): number {
    return this.state;
  }

  get length(): number {
    return this.bytes;
  }
}

/** `0x1a2b3c4d` style, for messages and logs. */
export function formatCrc32c(value: number): string {
  return '0x' + (value >>> 0).toString(16).padStart(8, '0');
}
export { crc32cCombine } from './crc32c-combine';
export { blockSpan, checkBlocks, type BlockCheck } from './blocks';
