package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Combining CRC32Cs gives the CRC32C of the concatenation, for any split (no I/O). */
class Crc32cCombineTest {
  @Test
  void combinedEqualsTheCrcOfTheConcatenation() {
    Random random = new Random(7);
    byte[] data = new byte[300_000];
    random.nextBytes(data);
    int[] splits = {0, 1, 7, 4096, 65_536, 65_537, 150_000, 299_999, 300_000};
    for (int split : splits) {
      int a = TestBytes.crc32c(Arrays.copyOfRange(data, 0, split));
      int b = TestBytes.crc32c(Arrays.copyOfRange(data, split, data.length));
      assertEquals(
          CheckpointReadStream.hex(TestBytes.crc32c(data)),
          CheckpointReadStream.hex(Crc32cCombine.combine(a, b, (long) data.length - split)),
          "split at " + split);
    }
  }

  @Test
  void oneOperatorAppendsManyBlocksOfItsLength() {
    Random random = new Random(8);
    int block = 4096;
    byte[] data = new byte[block * 9];
    random.nextBytes(data);
    int op = Crc32cCombine.operator(block);
    int crc = 0;
    for (int at = 0; at < data.length; at += block) {
      crc = Crc32cCombine.apply(op, crc, TestBytes.crc32c(Arrays.copyOfRange(data, at, at + block)));
    }
    assertEquals(CheckpointReadStream.hex(TestBytes.crc32c(data)), CheckpointReadStream.hex(crc));
  }
}
