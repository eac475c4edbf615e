package io.checkpointcache.client.remote;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * Turns a stream that might stop early (a dropped connection, a file truncated under us) into one
 * that fails instead: remote reads must never be short without saying so.
 */
final class ExactLengthInputStream extends FilterInputStream {
  private final long expected;
  private final String what;
  private long seen;

  ExactLengthInputStream(InputStream in, long expected, String what) {
    super(in);
    this.expected = expected;
    this.what = what;
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    int n = read(one, 0, 1);
    return n == -1 ? -1 : one[0] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    if (len == 0) return 0;
    long left = expected - seen;
    if (left == 0) {
      // One byte more means the source is longer than the range; EOF is the only good answer.
      if (in.read() != -1) {
        throw new RemoteStoreException(
            RemoteStoreException.Code.LENGTH_MISMATCH,
            what + ": received more than the " + expected + " bytes asked for");
      }
      return -1;
    }
    int n = in.read(b, off, (int) Math.min(len, left));
    if (n == -1) {
      throw new RemoteStoreException(
          RemoteStoreException.Code.LENGTH_MISMATCH,
          what + ": stream ended after " + seen + " of " + expected + " bytes");
    }
    seen += n;
    return n;
  }

  @Override
  public long skip(long n) throws IOException {
    byte[] scratch = new byte[(int) Math.min(8192, Math.max(n, 1))];
    long skipped = 0;
    while (skipped < n) {
      int r = read(scratch, 0, (int) Math.min(scratch.length, n - skipped));
      if (r == -1) break;
      skipped += r;
    }
    return skipped;
  }

  @Override
  public int available() throws IOException {
    return (int) Math.min(in.available(), expected - seen);
  }

  @Override
  public boolean markSupported() {
    return false;
  }
}
