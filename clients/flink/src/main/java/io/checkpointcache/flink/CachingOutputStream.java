package io.checkpointcache.flink;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32C;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A file being written through ckc://: every byte goes to the real file system's stream, and a
 * copy (with its running CRC32C) to a local spool file; once the real stream closed successfully,
 * the spool file is handed to the {@link CacheUploader}. The real write decides success: a spool
 * failure only means the file is not cached, and a file whose real write failed is never cached.
 * Owns: the spool copy until it is handed over. Not thread-safe (nor is any FSDataOutputStream).
 */
final class CachingOutputStream extends FSDataOutputStream {
  private static final Logger LOG = LoggerFactory.getLogger(CachingOutputStream.class);
  private static final int SPOOL_BUFFER = 64 * 1024;

  private final FSDataOutputStream real;
  private final String key;
  private final CheckpointLabels labels;
  private final CacheUploader uploader;
  private final CheckpointCacheMetrics metrics;
  private final CRC32C crc = new CRC32C();
  /** Both null once the copy failed (the file is not cached) or was handed to the uploader. */
  private Path spoolFile;
  private OutputStream spool;
  private long size;
  private boolean realFailed;
  private boolean closed;

  CachingOutputStream(
      FSDataOutputStream real,
      String key,
      CheckpointLabels labels,
      CacheUploader uploader,
      CheckpointCacheMetrics metrics) {
    this.real = real;
    this.key = key;
    this.labels = labels;
    this.uploader = uploader;
    this.metrics = metrics;
    try {
      this.spoolFile = uploader.newSpoolFile();
      this.spool = new BufferedOutputStream(Files.newOutputStream(spoolFile), SPOOL_BUFFER);
    } catch (IOException e) {
      LOG.warn("checkpoint-cache: no spool file, {} will not be cached: {}", key, e.toString());
      dropSpool();
    }
  }

  @Override
  public void write(int b) throws IOException {
    try {
      real.write(b);
    } catch (IOException | RuntimeException e) {
      realFailed = true;
      throw e;
    }
    size++;
    if (spool != null) {
      crc.update(b);
      try {
        spool.write(b);
      } catch (IOException e) {
        spoolFailed(e);
      }
    }
  }

  @Override
  public void write(byte[] b, int off, int len) throws IOException {
    try {
      real.write(b, off, len);
    } catch (IOException | RuntimeException e) {
      realFailed = true;
      throw e;
    }
    size += len;
    if (spool != null) {
      crc.update(b, off, len);
      try {
        spool.write(b, off, len);
      } catch (IOException e) {
        spoolFailed(e);
      }
    }
  }

  @Override
  public long getPos() throws IOException {
    return real.getPos();
  }

  @Override
  public void flush() throws IOException {
    try {
      real.flush();
    } catch (IOException | RuntimeException e) {
      realFailed = true;
      throw e;
    }
  }

  @Override
  public void sync() throws IOException {
    try {
      real.sync();
    } catch (IOException | RuntimeException e) {
      realFailed = true;
      throw e;
    }
  }

  /**
   * Closes the real stream; if that succeeded (and every write before it), caches the file. A
   * stream that is closed to be discarded is uploaded too: the delete that follows cancels it.
   */
  @Override
  public void close() throws IOException {
    if (closed) return;
    closed = true;
    try {
      real.close();
    } catch (IOException | RuntimeException e) {
      dropSpool();
      throw e;
    }
    metrics.fileWritten(size);
    if (spool == null) return;
    if (realFailed) {
      dropSpool();
      return;
    }
    try {
      spool.close();
    } catch (IOException e) {
      spoolFailed(e);
      return;
    }
    Path handedOver = spoolFile;
    spool = null;
    spoolFile = null;
    uploader.upload(new CacheUploader.Upload(key, handedOver, size, (int) crc.getValue(), labels));
  }

  private void spoolFailed(IOException e) {
    LOG.warn("checkpoint-cache: spool write failed, {} will not be cached: {}", key, e.toString());
    dropSpool();
  }

  private void dropSpool() {
    if (spool != null) {
      try {
        spool.close();
      } catch (IOException ignored) {
        // Deleted next; nothing more to do.
      }
      spool = null;
    }
    if (spoolFile != null) {
      try {
        Files.deleteIfExists(spoolFile);
      } catch (IOException e) {
        LOG.debug("checkpoint-cache: cannot delete spool file {}", spoolFile, e);
      }
      spoolFile = null;
    }
  }
}
