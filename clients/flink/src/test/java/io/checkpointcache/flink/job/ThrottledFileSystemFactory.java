package io.checkpointcache.flink.job;

import java.io.IOException;
import java.net.URI;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystemFactory;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.local.LocalFileSystem;

/**
 * {@code slowfile:///path}: the local file system with every read paced through one shared
 * link of {@link #setReadBytesPerSecond a given bandwidth}, standing in for a remote store (HDFS
 * over a 1 Gbit/s network) in the demo, where a local disk would make "remote" as fast as the
 * cache. Writes are not paced: the demo's subject is the restore, and unpaced writes make the
 * checkpoint-duration comparison the worst case for the plugin's overhead. Also counts the bytes
 * read (paced or not), so a test can tell whether the "remote" was read. Test code only.
 */
public final class ThrottledFileSystemFactory implements FileSystemFactory {
  public static final String SCHEME = "slowfile";
  private static volatile long bytesPerSecond;
  private static long nextFreeNanos;
  private static final java.util.concurrent.atomic.LongAdder BYTES_READ =
      new java.util.concurrent.atomic.LongAdder();

  /** Bytes read through every slowfile:// stream of this JVM so far. */
  public static long bytesRead() {
    return BYTES_READ.sum();
  }

  /** Paces reads of every slowfile:// stream together; 0 = not at all. */
  public static void setReadBytesPerSecond(long rate) {
    bytesPerSecond = rate;
  }

  @Override
  public String getScheme() {
    return SCHEME;
  }

  @Override
  public FileSystem create(URI fsUri) {
    return new ThrottledFileSystem();
  }

  /** Below this debt a reader does not sleep: sleeps that short overshoot by far more. */
  private static final long MIN_SLEEP_NANOS = 2_000_000;

  /**
   * Waits until {@code bytes} would have crossed the shared link (first come, first served).
   * Small reads run up a debt that a later read sleeps off, so the mean rate holds however the
   * reader slices its reads.
   */
  static void pace(long bytes) throws IOException {
    if (bytes > 0) BYTES_READ.add(bytes);
    long rate = bytesPerSecond;
    if (rate <= 0 || bytes <= 0) return;
    long done;
    synchronized (ThrottledFileSystemFactory.class) {
      long now = System.nanoTime();
      long start = Math.max(now, nextFreeNanos);
      done = start + bytes * 1_000_000_000L / rate;
      nextFreeNanos = done;
    }
    long wait = done - System.nanoTime();
    if (wait > MIN_SLEEP_NANOS) {
      try {
        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new java.io.InterruptedIOException("interrupted while pacing a slowfile:// read");
      }
    }
  }

  private static final class ThrottledFileSystem extends LocalFileSystem {
    @Override
    public URI getUri() {
      return URI.create(SCHEME + ":///");
    }

    @Override
    public FSDataInputStream open(Path f, int bufferSize) throws IOException {
      return open(f);
    }

    @Override
    public FSDataInputStream open(Path f) throws IOException {
      return new Paced(super.open(f));
    }
  }

  private static final class Paced extends FSDataInputStream {
    private final FSDataInputStream in;

    Paced(FSDataInputStream in) {
      this.in = in;
    }

    @Override
    public void seek(long desired) throws IOException {
      in.seek(desired);
    }

    @Override
    public long getPos() throws IOException {
      return in.getPos();
    }

    @Override
    public int read() throws IOException {
      int b = in.read();
      if (b >= 0) pace(1);
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = in.read(b, off, len);
      if (n > 0) pace(n);
      return n;
    }

    @Override
    public int available() throws IOException {
      return in.available();
    }

    @Override
    public void close() throws IOException {
      in.close();
    }
  }
}
