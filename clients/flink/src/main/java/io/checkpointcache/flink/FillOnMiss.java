package io.checkpointcache.flink;

import io.checkpointcache.client.FallbackEvent;
import io.checkpointcache.client.FallbackReason;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32C;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fill on miss ({@code checkpoint-cache.fill-on-miss}): a file that a read through ckc:// got
 * whole from the real file system (a miss, a stale or corrupt copy) is copied into the node cache
 * afterwards, so that the next restore on this node reads it locally. Without it, a node that
 * lost its copies would read incremental RocksDB's shared files from the real file system on
 * every later failover: they are never written again.
 *
 * <p>The copy is made from the bytes the read delivered, recorded to a spool file as they pass:
 * the real file is not read a second time. So a read fills only when its first byte came from
 * the real file system and it then delivered the whole file in order; a read that seeks, stops
 * early, or started from the cache fills nothing. The reading thread only copies the bytes into
 * chunks; one recorder thread writes them to the spool files (and computes their CRC32C), with at
 * most {@value #MAX_PENDING_BYTES} bytes waiting for it: a recording that would exceed that is
 * dropped (counted), never waited for. When the stream closes, the recording is queued on the
 * uploader's bounded queue ({@link CacheUploader#fill}): the read never waits for it.
 * Just before the copy is stored, the real file's length and modification time must still be
 * those the read was checked against; otherwise the file changed and nothing is stored. Nor is a
 * file whose modification time is ahead of this node's clock by more than max-clock-skew: a copy
 * made now would look older than the file, and every read would drop it and fill it again.
 * Owns: which reads fill, the recorder thread (stopped by {@link #close}), and the recordings until
 * handed to the uploader. Never: failing or blocking a read (a recording that fails is dropped),
 * deleting a cached copy.
 */
final class FillOnMiss implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(FillOnMiss.class);
  /** What the reading thread hands the recorder at a time. */
  private static final int CHUNK = 256 * 1024;
  /** Bytes copied by readers and not yet written by the recorder, at most (heap they hold). */
  static final long MAX_PENDING_BYTES = 32L * 1024 * 1024;

  /**
   * Fallbacks after which the agent cannot take a copy now (down, hung, overloaded): a fill
   * would only hold an upload thread until it failed too.
   */
  private static final Set<FallbackReason> AGENT_NOT_TAKING =
      EnumSet.of(
          FallbackReason.UNAVAILABLE,
          FallbackReason.DEADLINE_EXCEEDED,
          FallbackReason.FIRST_MESSAGE_TIMEOUT,
          FallbackReason.IDLE_TIMEOUT,
          FallbackReason.RESOURCE_EXHAUSTED,
          FallbackReason.CANCELLED);

  private final CacheUploader uploader;
  private final CheckpointCacheSettings settings;
  private final CheckpointCacheMetrics metrics;
  private final OncePerMinuteWarning warning = new OncePerMinuteWarning(LOG);
  /** One thread, so the chunks of a recording are written in the order they were handed over. */
  private final ThreadPoolExecutor recorder;
  private final AtomicLong pendingBytes = new AtomicLong();
  /**
   * A few chunks the recorder has written, for readers to fill again (no 256 KiB allocation and
   * zeroing each); bounded, so that a burst's chunks do not stay on the heap after it.
   */
  private final ArrayBlockingQueue<byte[]> freeChunks = new ArrayBlockingQueue<>(8);

  FillOnMiss(
      CacheUploader uploader, CheckpointCacheSettings settings, CheckpointCacheMetrics metrics) {
    this.uploader = uploader;
    this.settings = settings;
    this.metrics = metrics;
    // Unbounded queue: what bounds it is MAX_PENDING_BYTES, checked before each hand-over.
    this.recorder =
        new ThreadPoolExecutor(
            1,
            1,
            60,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(),
            r -> {
              Thread t = new Thread(r, "checkpoint-cache-fill-recorder");
              t.setDaemon(true);
              return t;
            });
    recorder.allowCoreThreadTimeOut(true);
  }

  /**
   * The observer of one read of {@code real}, whose status the read was checked against; none
   * when fill on miss is off, or for an empty file (never read from anywhere).
   */
  CachedInputStream.Observer observe(FileSystem target, Path real, FileStatus status) {
    if (!settings.fillOnMiss() || status.getLen() == 0) return CachedInputStream.Observer.NONE;
    return new Recording(target, real, status);
  }

  /**
   * Stops the recorder once what it was given is done (local writes, at most
   * {@value #MAX_PENDING_BYTES} bytes); what it then hands the uploader goes with the uploader.
   */
  @Override
  public void close() {
    recorder.shutdown();
    try {
      recorder.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /**
   * One read's recording: inactive until its first byte comes from the real file system. The
   * fields above {@code failed} belong to the reading thread, those below it to the recorder.
   */
  private final class Recording implements CachedInputStream.Observer {
    private final FileSystem target;
    private final Path real;
    /** The real file's version the read was checked against, taken when it was opened. */
    private final long length;
    private final long modifiedAt;
    /** Where the next recorded byte must be; -1 once nothing will be filled. */
    private long next;
    private boolean started;
    private byte[] chunk;
    private int chunkLen;

    /** Set by the recorder when the spool cannot be written; the reader then stops copying. */
    private volatile boolean failed;

    private java.nio.file.Path spool;
    private OutputStream out;
    private final CRC32C crc = new CRC32C();

    Recording(FileSystem target, Path real, FileStatus status) {
      this.target = target;
      this.real = real;
      // Now, not later: a FileStatus may answer from the file system when asked (Flink's local
      // one does), and the point is to compare the version read with the one then current.
      this.length = status.getLen();
      this.modifiedAt = status.getModificationTime();
    }

    @Override
    public void delivered(long pos, byte[] b, int off, int n, boolean allFromTarget) {
      if (!accepts(pos, allFromTarget)) return;
      while (n > 0) {
        if (chunk == null) chunk = newChunk();
        int k = Math.min(n, CHUNK - chunkLen);
        System.arraycopy(b, off, chunk, chunkLen, k);
        chunkLen += k;
        next += k;
        off += k;
        n -= k;
        if (chunkLen == CHUNK && !handOver()) return;
      }
    }

    @Override
    public void delivered(long pos, int b, boolean allFromTarget) {
      if (!accepts(pos, allFromTarget)) return;
      if (chunk == null) chunk = newChunk();
      chunk[chunkLen++] = (byte) b;
      next++;
      if (chunkLen == CHUNK) handOver();
    }

    /** True when bytes at {@code pos} continue the recording (started here if need be). */
    private boolean accepts(long pos, boolean allFromTarget) {
      if (next < 0) return false;
      if (!started) {
        // The first bytes decide: from the cache (a hit) or not from the start, no fill.
        if (pos != 0 || !allFromTarget) {
          next = -1;
          return false;
        }
        started = true;
      }
      if (pos != next || failed) {
        abandon();
        return false;
      }
      return true;
    }

    private byte[] newChunk() {
      byte[] c = freeChunks.poll();
      return c != null ? c : new byte[CHUNK];
    }

    /** Gives the recorder the current chunk; false (and abandoned) when it is too far behind. */
    private boolean handOver() {
      byte[] c = chunk;
      int len = chunkLen;
      chunk = null;
      chunkLen = 0;
      if (pendingBytes.addAndGet(len) > MAX_PENDING_BYTES) {
        pendingBytes.addAndGet(-len);
        metrics.fillDropped();
        warning.warn(
            "the fill recorder is {} MiB behind; not filling {}", MAX_PENDING_BYTES >> 20, real);
        abandon();
        return false;
      }
      if (!onRecorder(() -> {
        try {
          write(c, len);
        } finally {
          pendingBytes.addAndGet(-len);
          freeChunks.offer(c);
        }
      })) {
        pendingBytes.addAndGet(-len);
        abandon();
        return false;
      }
      return true;
    }

    @Override
    public void closed(Optional<FallbackEvent> fallback) {
      if (!started || next < 0) return;
      boolean agentTakes =
          fallback.map(f -> !AGENT_NOT_TAKING.contains(f.reason())).orElse(false);
      if (next != length || failed || !agentTakes) {
        abandon();
        return;
      }
      if (chunkLen > 0 && !handOver()) return;
      next = -1;
      counted(this::finish);
    }

    /**
     * {@code task} on the recorder, counted as pending in the metrics until it ran, so that
     * waiting for idle uploads also waits for a fill's hand-over and a recording's clean-up.
     */
    private void counted(Runnable task) {
      metrics.uploadQueued();
      Runnable run =
          () -> {
            try {
              task.run();
            } finally {
              metrics.uploadLeftQueue();
            }
          };
      if (!onRecorder(run)) metrics.uploadLeftQueue();
    }

    private boolean onRecorder(Runnable task) {
      try {
        recorder.execute(task);
        return true;
      } catch (RejectedExecutionException e) {
        // Closing: the uploader's close removes the spool directory.
        return false;
      }
    }

    /** On the recorder. */
    private void write(byte[] c, int len) {
      if (failed) return;
      try {
        if (out == null) {
          spool = uploader.newSpoolFile();
          out = Files.newOutputStream(spool);
        }
        out.write(c, 0, len);
        crc.update(c, 0, len);
      } catch (IOException e) {
        failed = true;
        warning.warn("spool write failed, {} will not be filled: {}", real, e.toString());
        discard();
      }
    }

    /** On the recorder, after the last chunk: hands the spool file to the uploader. */
    private void finish() {
      if (failed || out == null) {
        discard();
        return;
      }
      try {
        out.close();
      } catch (IOException e) {
        warning.warn("spool write failed, {} will not be filled: {}", real, e.toString());
        discard();
        return;
      }
      out = null;
      uploader.fill(
          new CacheUploader.Upload(
              PathMapping.key(real),
              spool,
              length,
              (int) crc.getValue(),
              CheckpointLabels.ofFile(real, settings.jobId())),
          this::stillCurrent);
      spool = null;
    }

    /** On an upload thread, just before the copy is stored. */
    private boolean stillCurrent() throws IOException {
      long skewMs = settings.maxClockSkew().toMillis();
      if (skewMs > 0 && modifiedAt - skewMs > System.currentTimeMillis()) return false;
      FileStatus now;
      try {
        now = target.getFileStatus(real);
      } catch (FileNotFoundException e) {
        return false;
      }
      return now.getLen() == length && now.getModificationTime() == modifiedAt;
    }

    /** On the reading thread: nothing more is recorded, and what was is deleted. */
    private void abandon() {
      next = -1;
      chunk = null;
      chunkLen = 0;
      counted(this::discard);
    }

    /** On the recorder. */
    private void discard() {
      failed = true;
      if (out != null) {
        try {
          out.close();
        } catch (IOException ignored) {
          // Deleted next; nothing more to do.
        }
        out = null;
      }
      if (spool != null) {
        try {
          Files.deleteIfExists(spool);
        } catch (IOException e) {
          LOG.debug("checkpoint-cache: cannot delete spool file {}", spool, e);
        }
        spool = null;
      }
    }
  }
}
