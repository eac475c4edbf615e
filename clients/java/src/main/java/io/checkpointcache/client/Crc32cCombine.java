package io.checkpointcache.client;

/**
 * CRC32C of a concatenation from the CRC32C of its parts (zlib's {@code crc32_combine_gen} /
 * {@code crc32_combine_op}, with CRC32C's polynomial), so that bytes whose CRC32C is already known
 * (verified short-circuit blocks) need not be checksummed a second time for the whole-entry check.
 * Owns: the GF(2) arithmetic. Never: checksumming bytes ({@link java.util.zip.CRC32C} does).
 */
final class Crc32cCombine {
  /** CRC32C's polynomial, bit-reversed (Castagnoli). */
  private static final int POLY = 0x82F63B78;

  /** x^(2^k) mod P, k = 0..31. */
  private static final int[] X2N = new int[32];

  static {
    int p = 1 << 30; // x^1
    X2N[0] = p;
    for (int n = 1; n < 32; n++) X2N[n] = p = multModP(p, p);
  }

  private Crc32cCombine() {}

  /** The operator that appends {@code length} bytes: pass it to {@link #apply}. */
  static int operator(long length) {
    int p = 1 << 31; // x^0
    int k = 3; // 8 bits a byte
    for (long n = length; n != 0; n >>>= 1, k++) {
      if ((n & 1) != 0) p = multModP(X2N[k & 31], p);
    }
    return p;
  }

  /**
   * CRC32C of A followed by B, from {@code operator(length of B)}, crcA and crcB: one operator
   * serves every part of one length (the blocks of an entry).
   */
  static int apply(int operator, int crcA, int crcB) {
    return multModP(operator, crcA) ^ crcB;
  }

  /** CRC32C of A followed by B, from crcA, crcB and B's length. */
  static int combine(int crcA, int crcB, long lengthB) {
    return apply(operator(lengthB), crcA, crcB);
  }

  /** a * b mod P, in the bit-reversed representation; {@code a} is never 0 here. */
  private static int multModP(int a, int b) {
    int m = 1 << 31;
    int p = 0;
    for (; ; ) {
      if ((a & m) != 0) {
        p ^= b;
        if ((a & (m - 1)) == 0) break;
      }
      m >>>= 1;
      b = (b & 1) != 0 ? (b >>> 1) ^ POLY : b >>> 1;
    }
    return p;
  }
}
