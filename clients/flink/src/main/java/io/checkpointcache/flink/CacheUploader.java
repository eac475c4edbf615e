package io.checkpointcache.flink;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.CheckpointCacheException;
import io.checkpointcache.client.PutOptions;
import io.checkpointcache.flink.CheckpointCacheOptions.UploadMode;
import io.grpc.Context;
import io.grpc.Status;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Copies files into the node cache from their local spool copies: files the plugin wrote, after
 * the real file system has them (uploads), and files a read got whole from the real file system
 * (fills, see {@link FillOnMiss}). The cache is an optimisation: every failure here is logged and
 * counted, never thrown to the writer or reader, so a checkpoint never fails because the cache is
 * down.
 * Owns: the spool directory, the upload threads and their bounded queue (shared by uploads and
 * fills), and cancelling copies of files that are deleted or overwritten before (or while) they
 * are copied. Never: touching the real file system itself (a fill's {@link StillCurrent} check
 * is its caller's code), a fill on the caller's thread.
 */
final class CacheUploader implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(CacheUploader.class);

  /** A written (or, for a fill, read) file waiting to be cached. */
  record Upload(String key, Path spool, long size, int crc32c, CheckpointLabels labels) {}

  /** Whether a fill's bytes are still those of the real file, checked just before it is stored. */
  interface StillCurrent {
    /** Uploads of written files: the writer's own bytes, cancelled by any later change. */
    StillCurrent WRITTEN = () -> true;

    boolean check() throws IOException;
  }

  private final CheckpointCacheClient client;
  private final CheckpointCacheSettings settings;
  private final CheckpointCacheMetrics metrics;
  private final ThreadPoolExecutor executor;
  private final Map<String, Task> inFlight = new ConcurrentHashMap<>();
  private final Path spoolDir;
  private final OncePerMinuteWarning warning = new OncePerMinuteWarning(LOG);

  CacheUploader(
      CheckpointCacheClient client, CheckpointCacheSettings settings, CheckpointCacheMetrics metrics)
      throws IOException {
    this.client = client;
    this.settings = settings;
    this.metrics = metrics;
    Files.createDirectories(settings.spoolDir());
    this.spoolDir = Files.createTempDirectory(settings.spoolDir(), "checkpoint-cache-spool-");
    // Emptied as uploads finish; removed with the process (or by close()).
    spoolDir.toFile().deleteOnExit();
    AtomicInteger threadNo = new AtomicInteger();
    this.executor =
        new ThreadPoolExecutor(
            settings.uploadThreads(),
            settings.uploadThreads(),
            60,
            TimeUnit.SECONDS,
            new LinkedBlockingQueue<>(settings.maxPendingUploads()),
            r -> {
              Thread t = new Thread(r, "checkpoint-cache-upload-" + threadNo.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    executor.allowCoreThreadTimeOut(true);
  }

  /**
   * Where a writer keeps the local copy of a file until it is cached. (An uploader exists only
   * when upload is ASYNC or SYNC: see {@link UploadingCacheAccess}.)
   */
  Path newSpoolFile() throws IOException {
    return Files.createTempFile(spoolDir, "file-", ".spool");
  }

  /**
   * Caches a file the real file system now holds: in SYNC mode before returning, in ASYNC mode
   * later. Takes ownership of the spool file. Never throws.
   */
  void upload(Upload upload) {
    Task task = new Task(upload, StillCurrent.WRITTEN);
    Task previous = inFlight.put(upload.key(), task);
    if (previous != null) {
      previous.cancel();
      task.after(previous);
    }
    metrics.uploadQueued();
    if (settings.upload() == UploadMode.SYNC) {
      task.run();
      return;
    }
    try {
      executor.execute(task);
    } catch (RejectedExecutionException e) {
      metrics.uploadDropped();
      warning.warn(
          "upload queue full ({} files); not caching {}", settings.maxPendingUploads(), upload.key());
      task.finish();
    }
  }

  /**
   * Caches a file a read got whole from the real file system: always later, on an upload thread
   * (also in SYNC mode: a restore never waits for a fill), and only if {@code stillCurrent} holds
   * then. Skipped while the key has an upload or fill in flight (that one caches the file; a fill
   * never replaces an upload). Dropped, and counted, when the queue is half full or more, so that
   * the fills of a large restore never crowd out the uploads of the next checkpoints. Takes
   * ownership of the spool file. Never throws.
   */
  void fill(Upload upload, StillCurrent stillCurrent) {
    if (executor.getQueue().remainingCapacity() <= settings.maxPendingUploads() / 2) {
      metrics.fillDropped();
      warning.warn(
          "upload queue half full (of {} files); not filling {}",
          settings.maxPendingUploads(),
          upload.key());
      deleteSpool(upload.spool());
      return;
    }
    Task task = new Task(upload, stillCurrent);
    if (inFlight.putIfAbsent(upload.key(), task) != null) {
      deleteSpool(upload.spool());
      return;
    }
    metrics.uploadQueued();
    try {
      executor.execute(task);
    } catch (RejectedExecutionException e) {
      metrics.fillDropped();
      task.finish();
    }
  }

  /**
   * Makes sure an upload of {@code key} that has not finished leaves nothing in the cache. The
   * caller deletes the entry afterwards; an upload that completes after that deletes it itself.
   */
  void cancel(String key) {
    Task task = inFlight.get(key);
    if (task != null) task.cancel();
  }

  /** True while an upload of {@code key} has not finished. */
  boolean isUploading(String key) {
    return inFlight.containsKey(key);
  }

  /** {@link #cancel} of every key starting with {@code prefix}. */
  void cancelUnder(String prefix) {
    inFlight.forEach((key, task) -> {
      if (key.startsWith(prefix)) task.cancel();
    });
  }

  @Override
  public void close() {
    // Tasks that never ran still own a spool file and count as pending: finish them.
    for (Runnable never : executor.shutdownNow()) {
      if (never instanceof Task task) task.finish();
    }
    try {
      executor.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    inFlight.values().forEach(Task::cancel);
    try (var files = Files.list(spoolDir)) {
      for (Path f : (Iterable<Path>) files::iterator) Files.deleteIfExists(f);
      Files.deleteIfExists(spoolDir);
    } catch (IOException e) {
      LOG.debug("checkpoint-cache: cannot clean the spool directory {}", spoolDir, e);
    }
  }

  private static void deleteSpool(Path spool) {
    try {
      Files.deleteIfExists(spool);
    } catch (IOException e) {
      LOG.debug("checkpoint-cache: cannot delete spool file {}", spool, e);
    }
  }

  /**
   * One file's upload, or fill. Uploads of one key never overlap: a newer one waits for the one it
   * replaced (cancelled by then) to finish, so the older one's clean-up, or its retry after
   * ALREADY_EXISTS, can only ever touch its own copy, never the newer one.
   */
  private final class Task implements Runnable {
    private final Upload upload;
    private final StillCurrent stillCurrent;
    /** A fill: counted apart, checked against the real file first, never replaces other bytes. */
    private final boolean fill;
    private final AtomicBoolean cancelled = new AtomicBoolean();
    private final AtomicBoolean finished = new AtomicBoolean();
    private final CountDownLatch done = new CountDownLatch(1);
    /** The upload of the same key this one replaced; set before the task is run. */
    private volatile Task previous;
    /** The Write in progress, as a context {@link #cancel} can cancel. Guarded by this. */
    private Context.CancellableContext call;

    Task(Upload upload, StillCurrent stillCurrent) {
      this.upload = upload;
      this.stillCurrent = stillCurrent;
      this.fill = stillCurrent != StillCurrent.WRITTEN;
    }

    void after(Task replaced) {
      previous = replaced;
    }

    /**
     * Stops the upload: a call in progress is cancelled at once (a stale copy does not go on
     * streaming, and a newer upload of the key does not wait for it). Atomic with {@link
     * #deleteUnlessCancelled}: once it returns, this upload deletes nothing but its own copy.
     */
    synchronized void cancel() {
      cancelled.set(true);
      if (call != null) call.cancel(null);
    }

    @Override
    public void run() {
      try {
        Task p = previous;
        if (p != null) {
          previous = null;
          p.done.await();
        }
        if (cancelled.get() || !stillCurrent()) {
          countCancelled();
          return;
        }
        long start = System.nanoTime();
        if (put()) {
          if (fill) metrics.fillSucceeded(upload.size());
          else metrics.uploadSucceeded(upload.size(), System.nanoTime() - start);
          // Deleted or overwritten while being copied: the caller's delete may have run first.
          if (cancelled.get()) deleteQuietly();
        }
      } catch (InterruptedException e) {
        // The uploader is closing.
        Thread.currentThread().interrupt();
        countCancelled();
      } catch (RuntimeException e) {
        countFailed();
        warning.warn("{} of {} failed: {}", fill ? "fill" : "upload", upload.key(), e.toString());
      } finally {
        finish();
      }
    }

    /** False when a fill's file changed (or is gone) since the read that recorded it. */
    private boolean stillCurrent() {
      try {
        return stillCurrent.check();
      } catch (IOException e) {
        LOG.debug("checkpoint-cache: not filling {}: {}", upload.key(), e.toString());
        return false;
      }
    }

    private void countCancelled() {
      if (fill) metrics.fillCancelled();
      else metrics.uploadCancelled();
    }

    private void countFailed() {
      if (fill) metrics.fillFailed();
      else metrics.uploadFailed();
    }

    /** True when the cache holds the file now. */
    private boolean put() {
      for (int attempt = 1; ; attempt++) {
        try (InputStream in = Files.newInputStream(upload.spool())) {
          PutOptions options =
              new PutOptions(
                  upload.labels().jobId(),
                  upload.labels().checkpointId(),
                  upload.size(),
                  upload.crc32c(),
                  settings.ttl());
          if (!putOnce(in, options)) {
            countCancelled();
            return false;
          }
          return true;
        } catch (CheckpointCacheException e) {
          if (cancelled.get()) {
            // Made stale while in flight. Its own call's CANCELLED may have crossed the agent
            // storing the bytes, so that copy goes; no other answer stored anything of this
            // upload (after ALREADY_EXISTS the other bytes may be the newer copy, and they stay).
            if (e.code() == Status.Code.CANCELLED) deleteQuietly();
            countCancelled();
            return false;
          }
          // A fill never deletes: the other bytes may be a newer copy it cannot judge.
          if (e.code() == Status.Code.ALREADY_EXISTS && attempt == 1 && !fill) {
            // The key holds other bytes: a file that was replaced outside this plugin. The real
            // file system is the source of truth, so the stale copy goes, unless this upload is
            // itself stale (the file was overwritten or deleted since): then those other bytes
            // may be the newer copy, and they stay.
            if (!deleteUnlessCancelled()) {
              countCancelled();
              return false;
            }
            LOG.info("checkpoint-cache: replaced a stale cached copy of {}", upload.key());
            continue;
          }
          countFailed();
          warning.warn("not cached: {}: {} {}", upload.key(), e.code(), e.details());
          return false;
        } catch (IOException e) {
          if (cancelled.get()) {
            countCancelled();
            return false;
          }
          countFailed();
          warning.warn("not cached: {}: {}", upload.key(), e.toString());
          return false;
        }
      }
    }

    /** One Write, cancellable by {@link #cancel}; false when the upload was cancelled before. */
    private boolean putOnce(InputStream in, PutOptions options) throws IOException {
      Context.CancellableContext context;
      synchronized (this) {
        if (cancelled.get()) return false;
        context = Context.current().withCancellation();
        call = context;
      }
      try {
        context.call(() -> client.put(upload.key(), in, options));
        return true;
      } catch (IOException | RuntimeException e) {
        throw e;
      } catch (Exception e) {
        throw new IllegalStateException(e);
      } finally {
        synchronized (this) {
          call = null;
        }
        context.cancel(null);
      }
    }

    /** Deletes whatever the key holds, unless this upload was cancelled; see {@link #cancel}. */
    private synchronized boolean deleteUnlessCancelled() {
      if (cancelled.get()) return false;
      deleteQuietly();
      return true;
    }

    private void deleteQuietly() {
      try {
        client.delete(upload.key());
      } catch (CheckpointCacheException e) {
        LOG.debug("checkpoint-cache: delete of {} failed: {}", upload.key(), e.code());
      }
    }

    void finish() {
      if (!finished.compareAndSet(false, true)) return;
      inFlight.remove(upload.key(), this);
      deleteSpool(upload.spool());
      metrics.uploadLeftQueue();
      done.countDown();
    }
  }
}
