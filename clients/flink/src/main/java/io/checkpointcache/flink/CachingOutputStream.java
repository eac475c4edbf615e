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
 * copy (with its running CRC32C) to a local spool file. Streamed (a stream slot was free when the
 * file asked for one): the {@link CacheUploader} sends the spool file to the agent as it grows,
 * and this stream seals it once the real stream closed successfully (SYNC: close then waits for
 * the commit, i.e. for the tail). Otherwise the spool file is handed to the uploader after close.
 * When it asks: at create, except in ASYNC mode with batching on, where a file asks only once it
 * grows past {@code upload.batch-max-bytes} ({@link CacheUploader#streamSlotPast}). Streaming
 * while written pays for a large file (its upload overlaps its writing); a small one is written in
 * a moment, and copied after close it can share a WriteBatch with other small files instead of
 * holding a slot and a call of its own. The real write decides success: a spool failure only
 * means the file is not cached, and a file whose real write failed, or whose stream closed
 * without success, is never cached (a streamed upload is aborted, and the agent drops what it
 * received).
 * Owns: the spool copy until it is handed over (streamed: shared with the upload). Never: waiting
 * for the agent while writing, or for a stream slot (none free when asked: copied after close).
 * Not thread-safe (nor is any FSDataOutputStream).
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
  /** Non-null while the copy streams to the agent as it is written. */
  private GrowingSpool growing;
  /**
   * The file asks for a stream slot once its size is past this; -1 once it asked (or never will:
   * no spool copy).
   */
  private long streamSlotPast = -1;
  private OutputStream spool;
  private long size;
  private boolean realFailed;
  private boolean closed;
  private final CacheUploader.StillCurrent stillThere;

  CachingOutputStream(
      FSDataOutputStream real,
      String key,
      CheckpointLabels labels,
      CacheUploader uploader,
      CheckpointCacheMetrics metrics) {
    this(real, key, labels, uploader, metrics, CacheUploader.StillCurrent.ASSUMED_THERE);
  }

  /** {@code stillThere}: whether the real file still exists, asked once its copy is committed. */
  CachingOutputStream(
      FSDataOutputStream real,
      String key,
      CheckpointLabels labels,
      CacheUploader uploader,
      CheckpointCacheMetrics metrics,
      CacheUploader.StillCurrent stillThere) {
    this.stillThere = stillThere;
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
      return;
    }
    long past = uploader.streamSlotPast();
    if (past < 0) askForStreamSlot();
    else streamSlotPast = past;
  }

  /**
   * Streams the spool copy to the agent from now on, if a stream slot is free; otherwise (and
   * from then on) the file is copied after close. Asked once per file.
   */
  private void askForStreamSlot() {
    streamSlotPast = -1;
    try {
      // The upload reads the spool file from its start. It would find the buffered bytes there by
      // the seal anyway (close flushes first); flushed now, the upload of a file that asks
      // mid-write can read them at once, not only when the buffer next fills. Empty at create.
      spool.flush();
    } catch (IOException e) {
      spoolFailed(e);
      return;
    }
    growing = uploader.streamWhileWritten(key, labels, spoolFile, stillThere);
    // Streamed: the spool file is the upload's too; it is deleted once both released it.
    if (growing != null) spoolFile = null;
  }

  @Override
  public void write(int b) throws IOException {
    try {
      real.write(b);
    } catch (IOException | RuntimeException e) {
      realFailed();
      throw e;
    }
    size++;
    if (growing != null && growing.uploadEnded()) dropSpool();
    if (spool != null) {
      crc.update(b);
      try {
        spool.write(b);
      } catch (IOException e) {
        spoolFailed(e);
        return;
      }
      if (streamSlotPast >= 0 && size > streamSlotPast) askForStreamSlot();
    }
  }

  @Override
  public void write(byte[] b, int off, int len) throws IOException {
    try {
      real.write(b, off, len);
    } catch (IOException | RuntimeException e) {
      realFailed();
      throw e;
    }
    size += len;
    if (growing != null && growing.uploadEnded()) dropSpool();
    if (spool != null) {
      crc.update(b, off, len);
      try {
        spool.write(b, off, len);
      } catch (IOException e) {
        spoolFailed(e);
        return;
      }
      if (streamSlotPast >= 0 && size > streamSlotPast) askForStreamSlot();
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
      realFailed();
      throw e;
    }
  }

  @Override
  public void sync() throws IOException {
    try {
      real.sync();
    } catch (IOException | RuntimeException e) {
      realFailed();
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
    if (growing != null) {
      sealAndMaybeWait();
      return;
    }
    Path handedOver = spoolFile;
    spool = null;
    spoolFile = null;
    uploader.upload(
        new CacheUploader.Upload(key, handedOver, size, (int) crc.getValue(), labels), stillThere);
  }

  /** Streamed: the rest goes to the agent now; SYNC waits until it is committed (or failed). */
  private void sealAndMaybeWait() {
    GrowingSpool sealed = growing;
    spool = null;
    growing = null;
    sealed.seal(size, (int) crc.getValue());
    sealed.releaseByWriter();
    if (uploader.waitsInClose()) {
      try {
        sealed.awaitUpload();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** The real write failed: a streamed copy is aborted at once, before the stream is closed. */
  private void realFailed() {
    realFailed = true;
    dropSpool();
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
    if (growing != null) {
      // The upload finds the abort at its next read and cancels its call.
      growing.abort();
      growing.releaseByWriter();
      growing = null;
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
