package io.checkpointcache.flink;

import java.io.IOException;
import org.apache.flink.core.fs.FSDataInputStream;

/**
 * A file opened through ckc:// while the cache is off (disabled, or no client could be made):
 * the real file system's stream, counted as bytes from the remote store.
 */
final class PassThroughInputStream extends FSDataInputStream {
  private final FSDataInputStream real;
  private final String key;
  private final CheckpointCacheMetrics metrics;
  private final long openedAtMillis = System.currentTimeMillis();
  private long bytes;
  private boolean closed;

  PassThroughInputStream(FSDataInputStream real, String key, CheckpointCacheMetrics metrics) {
    this.real = real;
    this.key = key;
    this.metrics = metrics;
  }

  @Override
  public void seek(long desired) throws IOException {
    real.seek(desired);
  }

  @Override
  public long getPos() throws IOException {
    return real.getPos();
  }

  @Override
  public int read() throws IOException {
    int b = real.read();
    if (b >= 0) bytes++;
    return b;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    int n = real.read(b, off, len);
    if (n > 0) bytes += n;
    return n;
  }

  @Override
  public long skip(long n) throws IOException {
    return real.skip(n);
  }

  @Override
  public int available() throws IOException {
    return real.available();
  }

  @Override
  public void close() throws IOException {
    if (closed) return;
    closed = true;
    try {
      real.close();
    } finally {
      metrics.readFinished(
          new CheckpointCacheMetrics.ReadRecord(
              key, 0, bytes, null, openedAtMillis, System.currentTimeMillis()));
    }
  }
}
