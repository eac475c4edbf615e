package io.checkpointcache.flink;

import java.io.IOException;
import java.net.URI;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystemFactory;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.local.LocalFileSystem;

/**
 * {@code gatedfile:///path}: the local file system, except that {@code exists()} of an existing
 * file whose name starts with {@link #GATE} waits while the gate is closed. The plugin asks that after a
 * written file's copy is committed, on the upload thread: so a test holds the upload thread with
 * one such file and decides which files wait in the queue together, instead of racing it. Test
 * code only; one gate per JVM (tests using it do not run in parallel).
 */
public final class GatedFileSystemFactory implements FileSystemFactory {
  public static final String SCHEME = "gatedfile";
  /** Files whose name starts with this hold the thread that asks whether they exist. */
  public static final String GATE = "gate-";

  private static volatile CountDownLatch open = new CountDownLatch(0);
  private static volatile CountDownLatch held = new CountDownLatch(1);

  /** Closes the gate: the next {@code exists()} of a gate file waits until {@link #open()}. */
  static void close() {
    held = new CountDownLatch(1);
    open = new CountDownLatch(1);
  }

  /** True once a thread waits at the closed gate (within {@code seconds}). */
  static boolean awaitHeld(long seconds) throws InterruptedException {
    return held.await(seconds, TimeUnit.SECONDS);
  }

  static void open() {
    open.countDown();
  }

  @Override
  public String getScheme() {
    return SCHEME;
  }

  @Override
  public FileSystem create(URI fsUri) {
    return new Gated();
  }

  private static final class Gated extends LocalFileSystem {
    @Override
    public URI getUri() {
      return URI.create(SCHEME + ":///");
    }

    @Override
    public boolean exists(Path f) throws IOException {
      // Only once the file is there: the writer's create asks first (NO_OVERWRITE), and passes.
      if (f.getName().startsWith(GATE) && super.exists(f)) {
        held.countDown();
        try {
          // Bounded, so that a failed test never hangs the build.
          if (!open.await(60, TimeUnit.SECONDS)) throw new IOException("the gate was never opened");
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new java.io.InterruptedIOException("interrupted at the gate");
        }
      }
      return super.exists(f);
    }
  }
}
