package io.checkpointcache.client;

import io.checkpointcache.client.remote.RemoteStoreException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;

/**
 * The remote phase of one read: the remote store's stream of the rest of the range, from the
 * first byte the cache did not deliver. Its failures say where the read was and why it had left
 * the cache, since by then the agent's failure is what the caller is looking for.
 *
 * <p>Owns: the remote stream and the wording of its errors. Never: retrying the agent or the
 * remote store, or deciding when the read has ended ({@link CheckpointReadStream} does).
 */
final class RemoteRead implements AutoCloseable {
  private final ReadPlan plan;
  /** Why the read is here: the fallback reason, or "remote only". */
  private final String after;
  private final InputStream in;
  /** Absolute offset of the next byte read from {@code in}. */
  private long position;

  private RemoteRead(ReadPlan plan, String after, InputStream in, long position) {
    this.plan = plan;
    this.after = after;
    this.in = in;
    this.position = position;
  }

  /**
   * Opens the remote file of {@code plan} at {@code position} for {@code length} bytes (null: to
   * its end); {@code after} says why the read left the cache, for messages.
   */
  static RemoteRead open(ReadPlan plan, long position, Long length, String after)
      throws IOException {
    try {
      return new RemoteRead(
          plan, after, plan.remoteStore().open(plan.remoteUri(), position, length), position);
    } catch (IOException e) {
      throw describe(plan, after, position, e);
    }
  }

  /** As {@link InputStream#read(byte[], int, int)}; failures described. */
  int read(byte[] b, int off, int len) throws IOException {
    int n;
    try {
      n = in.read(b, off, len);
    } catch (IOException e) {
      throw describe(plan, after, position, e);
    }
    if (n > 0) position += n;
    return n;
  }

  int available() throws IOException {
    return in.available();
  }

  /** Closes the remote stream; nothing more is read from it, so a failure to close is moot. */
  @Override
  public void close() {
    try {
      in.close();
    } catch (IOException ignored) {
      // Nothing more is read from it; the read's outcome is already decided.
    }
  }

  private static IOException describe(
      ReadPlan plan, String after, long position, IOException e) {
    if (e instanceof InterruptedIOException) return e;
    String text =
        "reading " + RemoteStoreException.redact(plan.remoteUri()) + " from offset " + position
            + " after the cache failed (" + after + "): " + e.getMessage();
    RemoteStoreException.Code code =
        e instanceof RemoteStoreException r ? r.code() : RemoteStoreException.Code.IO;
    return new RemoteStoreException(code, text, e);
  }
}
