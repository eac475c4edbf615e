package io.checkpointcache.client;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.Objects;
import java.util.Optional;

/**
 * An entry read that can jump: {@link #seek} closes the current read and the next {@code read}
 * opens a range read at the new position (cache first, remote fallback, as for
 * {@link CheckpointReadStream}). What Flink's {@code FSDataInputStream} needs.
 *
 * <p>Once one of its reads has fallen back to the remote store, later re-opens go to the remote
 * store directly: the agent has shown it cannot serve this entry, and asking again on every seek
 * would only add its failure latency (up to the first-message timeout) to each one.
 *
 * <p>Seeking past the end of the entry is not checked here; the next read fails (the agent
 * answers INVALID_ARGUMENT, a remote store RANGE_NOT_SATISFIABLE). With a {@link RemoteVersion}
 * whose size covers the position, the agent's INVALID_ARGUMENT means its copy is stale and the
 * read goes to the remote store. Not thread-safe.
 */
public final class SeekableCachedStream extends InputStream {
  /** Opens one range read: the client's own, or the warm-up's with its own counters. */
  @FunctionalInterface
  interface Opener {
    CheckpointReadStream open(
        String key,
        java.net.URI remote,
        long offset,
        Long length,
        boolean remoteOnly,
        RemoteVersion expected)
        throws IOException;
  }

  private final Opener opener;
  private final String key;
  private final java.net.URI remote;
  private final RemoteVersion expected;
  private long pos;
  private CheckpointReadStream current;
  private boolean remoteOnly;
  private boolean closed;
  private long closedFromCache;
  private long closedFromRemote;
  private FallbackEvent firstFallback;

  SeekableCachedStream(Opener opener, String key, java.net.URI remote, RemoteVersion expected) {
    this.opener = opener;
    this.key = key;
    this.remote = remote;
    this.expected = expected;
  }

  /** Moves to absolute position {@code newPos}; the next read starts there. */
  public void seek(long newPos) throws IOException {
    ensureOpen();
    if (newPos < 0) throw new EOFException("cannot seek to negative offset " + newPos);
    if (newPos == pos) return;
    closeCurrent();
    pos = newPos;
  }

  /** The absolute position of the next byte read returns. */
  public long getPos() {
    return pos;
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    int n;
    do {
      n = read(one, 0, 1);
    } while (n == 0);
    return n == -1 ? -1 : one[0] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    Objects.checkFromIndexSize(off, len, b.length);
    ensureOpen();
    if (len == 0) return 0;
    if (current == null) current = opener.open(key, remote, pos, null, remoteOnly, expected);
    int n = current.read(b, off, len);
    if (n > 0) pos += n;
    return n;
  }

  @Override
  public int available() throws IOException {
    return current == null || closed ? 0 : current.available();
  }

  /** Bytes delivered by this stream (all its reads) from the node agent. */
  public long bytesFromCache() {
    return closedFromCache + (current == null ? 0 : current.bytesFromCache());
  }

  /** Bytes delivered by this stream (all its reads) from the remote store. */
  public long bytesFromRemote() {
    return closedFromRemote + (current == null ? 0 : current.bytesFromRemote());
  }

  /** The first fallback of any of this stream's reads. */
  public Optional<FallbackEvent> fallback() {
    if (firstFallback == null && current != null) return current.fallback();
    return Optional.ofNullable(firstFallback);
  }

  @Override
  public void close() {
    if (closed) return;
    closeCurrent();
    closed = true;
  }

  private void closeCurrent() {
    if (current == null) return;
    closedFromCache += current.bytesFromCache();
    closedFromRemote += current.bytesFromRemote();
    if (current.fallback().isPresent()) {
      remoteOnly = remote != null;
      if (firstFallback == null) firstFallback = current.fallback().get();
    }
    current.close();
    current = null;
  }

  private void ensureOpen() throws IOException {
    if (closed) throw new IOException("read of \"" + key + "\": stream closed");
  }
}
