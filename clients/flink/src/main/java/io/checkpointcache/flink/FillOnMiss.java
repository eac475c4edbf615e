package io.checkpointcache.flink;

import io.checkpointcache.client.FallbackEvent;
import io.checkpointcache.client.FallbackReason;
import java.io.BufferedOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
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
 * early, or started from the cache fills nothing. The recording is queued on the uploader's
 * bounded queue ({@link CacheUploader#fill}) when the stream closes: the read never waits for it.
 * Just before the copy is stored, the real file's length and modification time must still be
 * those the read was checked against; otherwise the file changed and nothing is stored. Nor is a
 * file whose modification time is ahead of this node's clock by more than max-clock-skew: a copy
 * made now would look older than the file, and every read would drop it and fill it again.
 * Owns: which reads fill, and their recordings until handed to the uploader. Never: failing or
 * delaying a read (a recording that fails is dropped), deleting a cached copy.
 */
final class FillOnMiss {
  private static final Logger LOG = LoggerFactory.getLogger(FillOnMiss.class);
  private static final int SPOOL_BUFFER = 64 * 1024;

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
  private final OncePerMinuteWarning warning = new OncePerMinuteWarning(LOG);

  FillOnMiss(CacheUploader uploader, CheckpointCacheSettings settings) {
    this.uploader = uploader;
    this.settings = settings;
  }

  /**
   * The observer of one read of {@code real}, whose status the read was checked against; none
   * when fill on miss is off, or for an empty file (never read from anywhere).
   */
  CachedInputStream.Observer observe(FileSystem target, Path real, FileStatus status) {
    if (!settings.fillOnMiss() || status.getLen() == 0) return CachedInputStream.Observer.NONE;
    return new Recording(target, real, status);
  }

  /** One read's recording: inactive until its first byte comes from the real file system. */
  private final class Recording implements CachedInputStream.Observer {
    private final FileSystem target;
    private final Path real;
    /** The real file's version the read was checked against, taken when it was opened. */
    private final long length;
    private final long modifiedAt;
    private final CRC32C crc = new CRC32C();
    private java.nio.file.Path spool;
    private OutputStream out;
    /** Where the next recorded byte must be; -1 once nothing will be filled. */
    private long next;

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
      try {
        out.write(b, off, n);
        crc.update(b, off, n);
        next += n;
      } catch (IOException e) {
        spoolFailed(e);
      }
    }

    @Override
    public void delivered(long pos, int b, boolean allFromTarget) {
      if (!accepts(pos, allFromTarget)) return;
      try {
        out.write(b);
        crc.update(b);
        next++;
      } catch (IOException e) {
        spoolFailed(e);
      }
    }

    /** True when bytes at {@code pos} continue the recording (started here if need be). */
    private boolean accepts(long pos, boolean allFromTarget) {
      if (next < 0) return false;
      if (out == null) {
        // The first bytes decide: from the cache (a hit) or not from the start, no fill.
        if (pos != 0 || !allFromTarget) {
          next = -1;
          return false;
        }
        try {
          spool = uploader.newSpoolFile();
          out = new BufferedOutputStream(Files.newOutputStream(spool), SPOOL_BUFFER);
        } catch (IOException e) {
          spoolFailed(e);
          return false;
        }
      }
      if (pos != next) {
        abandon();
        return false;
      }
      return true;
    }

    @Override
    public void closed(Optional<FallbackEvent> fallback) {
      if (out == null || next < 0) return;
      boolean agentTakes =
          fallback.map(f -> !AGENT_NOT_TAKING.contains(f.reason())).orElse(false);
      if (next != length || !agentTakes) {
        abandon();
        return;
      }
      try {
        out.close();
      } catch (IOException e) {
        spoolFailed(e);
        return;
      }
      String key = PathMapping.key(real);
      uploader.fill(
          new CacheUploader.Upload(
              key,
              spool,
              next,
              (int) crc.getValue(),
              CheckpointLabels.ofFile(real, settings.jobId())),
          this::stillCurrent);
      out = null;
      next = -1;
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

    private void spoolFailed(IOException e) {
      warning.warn("spool write failed, {} will not be filled: {}", real, e.toString());
      abandon();
    }

    private void abandon() {
      next = -1;
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
