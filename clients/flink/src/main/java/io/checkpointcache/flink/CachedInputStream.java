package io.checkpointcache.flink;

import io.checkpointcache.client.FallbackEvent;
import io.checkpointcache.client.FallbackReason;
import io.checkpointcache.client.SeekableCachedStream;
import java.io.EOFException;
import java.io.IOException;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Consumer;
import org.apache.flink.core.fs.FSDataInputStream;

/**
 * A file opened through ckc://: reads from the node cache, continuing from the real file system
 * at the first undelivered byte when the cache cannot serve (the client's contract); seeks
 * re-open a range read. Knows the file's length from the real file system, so reads at the end
 * return -1 without a call. Reports where its bytes came from when closed, and hands on a cached
 * copy its reads found stale (of another version of the file) to be dropped, and shows every byte
 * it delivers, and how it ended, to its {@link Observer} (fill on miss).
 * Not thread-safe (nor is any FSDataInputStream).
 */
final class CachedInputStream extends FSDataInputStream {
  private final SeekableCachedStream in;
  private final String key;
  private final long length;
  private final CheckpointCacheMetrics metrics;
  private final Consumer<String> onStaleCopy;
  private final Observer observer;
  private final long openedAtMillis = System.currentTimeMillis();
  private boolean closed;

  CachedInputStream(
      SeekableCachedStream in,
      String key,
      long length,
      CheckpointCacheMetrics metrics,
      Consumer<String> onStaleCopy,
      Observer observer) {
    this.in = in;
    this.key = key;
    this.length = length;
    this.metrics = metrics;
    this.onStaleCopy = onStaleCopy;
    this.observer = observer;
  }

  /** Sees what a read delivers; {@link #NONE} when nothing needs to. */
  interface Observer {
    Observer NONE =
        new Observer() {
          @Override
          public void delivered(long pos, byte[] b, int off, int n, boolean allFromTarget) {}

          @Override
          public void delivered(long pos, int b, boolean allFromTarget) {}

          @Override
          public void closed(Optional<FallbackEvent> fallback) {}
        };

    /**
     * {@code n} bytes delivered at {@code pos}; {@code allFromTarget}: every byte the stream
     * delivered so far came from the real file system. Must neither throw nor block for long.
     */
    void delivered(long pos, byte[] b, int off, int n, boolean allFromTarget);

    /** One byte {@code b} delivered at {@code pos} (a {@code read()}: no array per byte). */
    void delivered(long pos, int b, boolean allFromTarget);

    /** The stream closed, its reads having left the cache for this reason (or not at all). */
    void closed(Optional<FallbackEvent> fallback);
  }

  @Override
  public void seek(long desired) throws IOException {
    if (desired < 0) throw new EOFException("cannot seek to " + desired + " in " + key);
    if (desired > length) {
      throw new EOFException("cannot seek to " + desired + " past the end (" + length + ") of " + key);
    }
    in.seek(desired);
  }

  @Override
  public long getPos() {
    return in.getPos();
  }

  @Override
  public int read() throws IOException {
    long pos = in.getPos();
    if (pos >= length) return -1;
    int b = endedEarlyIfNegative(in.read());
    observer.delivered(pos, b, in.bytesFromCache() == 0);
    return b;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    Objects.checkFromIndexSize(off, len, b.length);
    if (len == 0) return 0;
    long remaining = length - in.getPos();
    if (remaining <= 0) return -1;
    long pos = in.getPos();
    int n = endedEarlyIfNegative(in.read(b, off, (int) Math.min(len, remaining)));
    if (n > 0) observer.delivered(pos, b, off, n, in.bytesFromCache() == 0);
    return n;
  }

  /** An end before the real file's length is an error, never a silently short file. */
  private int endedEarlyIfNegative(int n) throws EOFException {
    if (n < 0) {
      throw new EOFException(
          key + " ended at " + in.getPos() + " of its " + length + " bytes: the real file"
              + " changed while it was read?");
    }
    return n;
  }

  @Override
  public long skip(long n) throws IOException {
    if (n <= 0) return 0;
    long pos = in.getPos();
    long target = Math.min(length, pos + n);
    in.seek(target);
    return target - pos;
  }

  @Override
  public int available() throws IOException {
    return in.available();
  }

  @Override
  public void close() {
    if (closed) return;
    closed = true;
    in.close();
    if (in.fallback().map(f -> f.reason() == FallbackReason.STALE_ENTRY).orElse(false)) {
      onStaleCopy.accept(key);
    }
    // After the stale copy's delete: a fill then stores the real file's current bytes.
    observer.closed(in.fallback());
    metrics.readFinished(
        new CheckpointCacheMetrics.ReadRecord(
            key,
            in.bytesFromCache(),
            in.bytesFromRemote(),
            in.fallback().map(FallbackEvent::reason).map(Enum::name).orElse(null),
            openedAtMillis,
            System.currentTimeMillis()));
  }
}
