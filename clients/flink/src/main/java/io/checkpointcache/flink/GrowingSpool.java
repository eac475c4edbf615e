package io.checkpointcache.flink;

import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The spool copy of a file that is copied into the cache while it is being written: the writer
 * appends to the file (which may hold the file's first bytes already when the upload starts: a file
 * in ASYNC mode with batching on starts streaming only once it grows past {@code
 * upload.batch-max-bytes}) and, once the real stream closed successfully, seals it with the size
 * and CRC32C of what the real stream took (or aborts it); the upload reads it as it grows, waiting
 * at its end for more bytes, the seal (end of file) or the abort (an IOException, which cancels the
 * upload's call). The file is the buffer between the two: the writer never waits for the reader.
 * Owns: the spool file, deleted once both the writer and the upload released it. Never: blocking
 * the writer, or ending a read before the seal (a sealed size is the only end of file).
 */
final class GrowingSpool {
  private static final Logger LOG = LoggerFactory.getLogger(GrowingSpool.class);
  /**
   * How long a reader at the end sleeps before looking again. The writer does not signal every
   * append (its writes are Flink's hot path); seal and abort wake readers at once.
   */
  private static final long POLL_MS = 5;

  private final Path file;
  private final Object lock = new Object();
  /** The writer and the upload: the file goes when both released it. */
  private final AtomicInteger holders = new AtomicInteger(2);
  private final CountDownLatch uploadDone = new CountDownLatch(1);
  private volatile boolean uploadEnded;
  // Guarded by lock.
  private boolean sealed;
  private boolean aborted;
  private long size;
  private int crc32c;

  GrowingSpool(Path file) {
    this.file = file;
  }

  Path file() {
    return file;
  }

  /** The real stream closed successfully after {@code size} bytes with this CRC32C. */
  void seal(long size, int crc32c) {
    synchronized (lock) {
      this.size = size;
      this.crc32c = crc32c;
      sealed = true;
      lock.notifyAll();
    }
  }

  /** The real write failed, or its stream was closed without success: nothing may be cached. */
  void abort() {
    synchronized (lock) {
      if (sealed) return;
      aborted = true;
      lock.notifyAll();
    }
  }

  boolean aborted() {
    synchronized (lock) {
      return aborted;
    }
  }

  /** The size the writer sealed; only after {@link #seal}. */
  long size() {
    synchronized (lock) {
      return size;
    }
  }

  /** The CRC32C the writer sealed (of what the real stream took); only after {@link #seal}. */
  int crc32c() {
    synchronized (lock) {
      return crc32c;
    }
  }

  /** True once the upload ended (done, failed or cancelled): the writer may stop copying. */
  boolean uploadEnded() {
    return uploadEnded;
  }

  /** Waits until the upload ended (SYNC mode's close). */
  void awaitUpload() throws InterruptedException {
    uploadDone.await();
  }

  /** The writer is done with the file (sealed, aborted, or gave up copying). */
  void releaseByWriter() {
    release();
  }

  /** The upload ended and is done with the file. */
  void releaseByUpload() {
    uploadEnded = true;
    release();
  }

  /**
   * {@link #awaitUpload} returns from now on: called once the upload's outcome is counted, so a
   * SYNC close returns with the upload no longer pending.
   */
  void uploadCounted() {
    uploadDone.countDown();
  }

  private void release() {
    if (holders.decrementAndGet() != 0) return;
    try {
      Files.deleteIfExists(file);
    } catch (IOException e) {
      LOG.debug("checkpoint-cache: cannot delete spool file {}", file, e);
    }
  }

  /**
   * A stream of the file from its start that ends at the sealed size, and throws when the write
   * was aborted or {@code stop} holds (the upload was cancelled) while it waits for bytes.
   */
  InputStream open(BooleanSupplier stop) throws IOException {
    return new Reader(FileChannel.open(file, StandardOpenOption.READ), stop);
  }

  private final class Reader extends InputStream {
    private final FileChannel channel;
    private final BooleanSupplier stop;
    private long position;

    Reader(FileChannel channel, BooleanSupplier stop) {
      this.channel = channel;
      this.stop = stop;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      int n = read(one, 0, 1);
      return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (len == 0) return 0;
      // Checked before every read too: an aborted file's rest is not worth sending.
      if (aborted()) throw new IOException("the file's real write did not succeed");
      for (; ; ) {
        int n = channel.read(ByteBuffer.wrap(b, off, len), position);
        if (n > 0) {
          position += n;
          return n;
        }
        synchronized (lock) {
          if (aborted) throw new IOException("the file's real write did not succeed");
          if (sealed) {
            if (position >= size) return -1;
            // Sealed after this read reached the old end: the rest is in the file now.
            if (channel.size() > position) continue;
            throw new IOException(
                "the spool copy has " + channel.size() + " bytes, the writer wrote " + size);
          }
          if (stop.getAsBoolean()) throw new IOException("the upload was cancelled");
          try {
            lock.wait(POLL_MS);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("the upload was interrupted");
          }
        }
      }
    }

    @Override
    public void close() throws IOException {
      channel.close();
    }
  }
}
