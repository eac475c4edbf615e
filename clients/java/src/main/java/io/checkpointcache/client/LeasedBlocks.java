package io.checkpointcache.client;

import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * The block checksums a lease carried, and the check of a run of whole blocks against them,
 * wherever the bytes sit: a span buffer of {@link ShortCircuitRead}, or the caller's own array
 * when its read covers whole blocks (the bytes are read straight into it, as {@link
 * java.io.FileInputStream} does, and checked there before the read returns them).
 *
 * <p>Owns: the per-block CRC32C comparison and the CRC32C of a run combined from its blocks' (no
 * second pass over the bytes). Never: reading the file, or deciding what a failed block leads to
 * (the caller gets {@link ShortCircuitRead.Miss} and the read goes on by streaming).
 */
final class LeasedBlocks {
  private final String key;
  private final int blockSize;
  /** Big-endian CRC32C per block, as the lease carried them. */
  private final ByteBuffer crcs;
  /** Appends a whole block's CRC32C to a run's (see {@link Crc32cCombine}). */
  private final int blockOperator;

  LeasedBlocks(String key, int blockSize, ByteBuffer crcs) {
    this.key = key;
    this.blockSize = blockSize;
    this.crcs = crcs;
    this.blockOperator = Crc32cCombine.operator(blockSize);
  }

  /**
   * Checks every block of {@code data} (whole blocks from entry offset {@code start}, its position
   * 0 to its limit); returns the CRC32C of all of it.
   */
  int verify(ByteBuffer data, long start) throws ShortCircuitRead.Miss {
    CRC32C crc = new CRC32C(); // per call: the read ahead checks a span on another thread
    int runCrc = 0;
    int block = (int) (start / blockSize);
    for (int at = 0; at < data.limit(); at += blockSize, block++) {
      int n = Math.min(blockSize, data.limit() - at);
      crc.reset();
      crc.update(data.slice(at, n));
      runCrc = append(runCrc, check(block, (int) crc.getValue(), n), n);
    }
    return runCrc;
  }

  /**
   * Checks the whole blocks in {@code b[off..off+len)}, which hold the entry's bytes from offset
   * {@code start} (a block boundary); returns the CRC32C of all of them.
   */
  int verify(byte[] b, int off, int len, long start) throws ShortCircuitRead.Miss {
    CRC32C crc = new CRC32C();
    int runCrc = 0;
    int block = (int) (start / blockSize);
    for (int at = 0; at < len; at += blockSize, block++) {
      int n = Math.min(blockSize, len - at);
      crc.reset();
      crc.update(b, off + at, n);
      runCrc = append(runCrc, check(block, (int) crc.getValue(), n), n);
    }
    return runCrc;
  }

  private int check(int block, int actual, int n) throws ShortCircuitRead.Miss {
    int expected = crcs.getInt(block * 4);
    if (actual != expected) {
      throw new ShortCircuitRead.Miss(
          "block " + block + " (offset " + ((long) block * blockSize) + ", " + n
              + " bytes) of the cached file of \"" + key + "\" has CRC32C "
              + CheckpointReadStream.hex(actual) + ", the lease says "
              + CheckpointReadStream.hex(expected));
    }
    return actual;
  }

  /** Only the entry's last block is shorter than blockOperator appends. */
  private int append(int runCrc, int blockCrc, int n) {
    return n == blockSize
        ? Crc32cCombine.apply(blockOperator, runCrc, blockCrc)
        : Crc32cCombine.combine(runCrc, blockCrc, n);
  }
}
