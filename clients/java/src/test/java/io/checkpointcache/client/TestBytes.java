package io.checkpointcache.client;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32C;

/**
 * The conformance suite's deterministic bytes ("hash32", see test/conformance/README.md): byte i
 * of seed s is the low byte of a 32-bit integer hash of (i + s * 0x9E3779B9) mod 2^32. Unlike
 * (i * 31 + s) & 0xff it does not repeat every 256 bytes, so a read resumed at a wrong offset
 * cannot produce the right bytes by accident.
 */
final class TestBytes {
  private TestBytes() {}

  static byte at(long i, int seed) {
    int x = (int) i + seed * 0x9E3779B9;
    x ^= x >>> 16;
    x *= 0x7feb352d;
    x ^= x >>> 15;
    x *= 0x846ca68b;
    x ^= x >>> 16;
    return (byte) x;
  }

  static byte[] generate(int size, int seed) {
    byte[] out = new byte[size];
    for (int i = 0; i < size; i++) out[i] = at(i, seed);
    return out;
  }

  static int crc32c(byte[] data, int off, int len) {
    CRC32C crc = new CRC32C();
    crc.update(data, off, len);
    return (int) crc.getValue();
  }

  static int crc32c(byte[] data) {
    return crc32c(data, 0, data.length);
  }

  /** Writes {@code data} to a new file under {@code dir}: the remote store's copy. */
  static java.net.URI remoteCopy(Path dir, String name, byte[] data) throws IOException {
    Path file = Files.createTempFile(dir, name.replaceAll("[^A-Za-z0-9._-]", "_") + "-", ".bin");
    Files.write(file, data);
    return file.toUri();
  }

  /** An InputStream over {@code data} that hands out at most {@code step} bytes per read. */
  static InputStream trickle(byte[] data, int step) {
    return new InputStream() {
      private int pos;

      @Override
      public int read() {
        return pos < data.length ? data[pos++] & 0xff : -1;
      }

      @Override
      public int read(byte[] b, int off, int len) {
        if (len == 0) return 0;
        if (pos >= data.length) return -1;
        int n = Math.min(Math.min(len, step), data.length - pos);
        System.arraycopy(data, pos, b, off, n);
        pos += n;
        return n;
      }
    };
  }

  /** Reads {@code in} to its end with reads of at most {@code step} bytes. */
  static byte[] readAll(InputStream in, int step) throws IOException {
    java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
    byte[] buffer = new byte[step];
    for (int n; (n = in.read(buffer, 0, step)) != -1; ) out.write(buffer, 0, n);
    return out.toByteArray();
  }
}
