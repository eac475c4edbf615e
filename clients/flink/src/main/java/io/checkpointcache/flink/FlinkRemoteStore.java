package io.checkpointcache.flink;

import io.checkpointcache.client.remote.RemoteStore;
import io.checkpointcache.client.remote.RemoteStoreException;
import java.io.FileNotFoundException;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.util.Locale;
import java.util.Set;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

/**
 * The client's remote store for the target's scheme, served by Flink's own file system for it
 * (HDFS, S3, local ... whatever plugin Flink has), so the cache's fallback reads the same bytes
 * the same way Flink would have without the cache.
 * Owns: ranged reads through a Flink FileSystem. Never: writes.
 */
final class FlinkRemoteStore implements RemoteStore {
  private final String scheme;
  private final Target fileSystem;

  /** Resolves the Flink file system on first use. */
  interface Target {
    FileSystem get() throws IOException;
  }

  /** Serves {@code scheme} with the file system {@code fileSystem} returns. */
  FlinkRemoteStore(String scheme, Target fileSystem) {
    this.scheme = scheme.toLowerCase(Locale.ROOT);
    this.fileSystem = fileSystem;
  }

  @Override
  public Set<String> schemes() {
    return Set.of(scheme);
  }

  @Override
  public InputStream open(URI uri, long offset, Long length) throws IOException {
    if (offset < 0 || (length != null && length < 0)) {
      throw new IllegalArgumentException("offset and length must be non-negative");
    }
    Path path = new Path(uri);
    FileSystem fs = fileSystem.get();
    long size = size(fs, path, uri);
    long end = length == null ? size : offset + length;
    if (offset > size || end > size) {
      throw new RemoteStoreException(
          RemoteStoreException.Code.RANGE_NOT_SATISFIABLE,
          uri + ": range " + offset + ".." + end + " is outside the file (" + size + " bytes)");
    }
    FSDataInputStream in;
    try {
      in = fs.open(path);
    } catch (FileNotFoundException e) {
      throw new RemoteStoreException(RemoteStoreException.Code.NOT_FOUND, uri + " does not exist", e);
    }
    try {
      if (offset > 0) in.seek(offset);
    } catch (IOException | RuntimeException e) {
      in.close();
      throw e;
    }
    return new ExactLength(in, end - offset, uri);
  }

  @Override
  public long size(URI uri) throws IOException {
    return size(fileSystem.get(), new Path(uri), uri);
  }

  private static long size(FileSystem fs, Path path, URI uri) throws IOException {
    try {
      return fs.getFileStatus(path).getLen();
    } catch (FileNotFoundException e) {
      throw new RemoteStoreException(RemoteStoreException.Code.NOT_FOUND, uri + " does not exist", e);
    }
  }

  /** Yields exactly {@code expected} bytes or fails: a remote read must never be silently short. */
  private static final class ExactLength extends FilterInputStream {
    private final URI uri;
    private long remaining;

    ExactLength(InputStream in, long expected, URI uri) {
      super(in);
      this.remaining = expected;
      this.uri = uri;
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
      if (remaining == 0) return -1;
      int n = in.read(b, off, (int) Math.min(len, remaining));
      if (n == -1) {
        throw new RemoteStoreException(
            RemoteStoreException.Code.LENGTH_MISMATCH,
            uri + " ended " + remaining + " bytes early");
      }
      remaining -= n;
      return n;
    }

    @Override
    public long skip(long n) throws IOException {
      byte[] sink = new byte[(int) Math.min(8192, Math.max(1, n))];
      long skipped = 0;
      while (skipped < n) {
        int r = read(sink, 0, (int) Math.min(sink.length, n - skipped));
        if (r == -1) break;
        skipped += r;
      }
      return skipped;
    }

    @Override
    public int available() throws IOException {
      return (int) Math.min(in.available(), remaining);
    }

    @Override
    public boolean markSupported() {
      return false;
    }
  }
}
