package io.checkpointcache.flink;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.flink.CheckpointCacheOptions.UploadMode;
import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Copies files into the node cache from their local spool copies: files the plugin wrote (uploads:
 * while they are written, see {@link #streamWhileWritten}, or after the real file system has
 * them), and files a read got whole from the real file system (fills, see {@link FillOnMiss}).
 * The cache is an optimisation: every failure here is logged and counted, never thrown to the
 * writer or reader, so a checkpoint never fails because the cache is down. Each copy is an
 * {@link UploadTask}.
 * Owns: the spool directory, the upload threads and their bounded queue (shared by uploads after
 * close and fills; small uploads waiting in it together leave it as one {@link UploadBatch}), the
 * stream threads (one per file streamed while written, at most {@code upload.streams}; with
 * batching on, only files past {@code upload.batch-max-bytes} ask for one), the
 * copies in flight by key, and cancelling copies of files that are deleted or overwritten before
 * (or while) they are copied. Never: touching the real file system itself
 * (a fill's {@link StillCurrent} check is its caller's code), a fill on the caller's thread, a
 * writer waiting for a stream slot (without one, its file is copied after close).
 */
final class CacheUploader implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(CacheUploader.class);

  /** A written (or, for a fill, read) file waiting to be cached. */
  record Upload(String key, Path spool, long size, int crc32c, CheckpointLabels labels) {}

  /** Whether a fill's bytes are still those of the real file, checked just before it is stored. */
  interface StillCurrent {
    /** Uploads of written files: the writer's own bytes, cancelled by any later change. */
    StillCurrent WRITTEN = () -> true;

    /**
     * For written files, checked after the copy is committed: the real file is still there. A
     * delete made elsewhere (the JobManager's, when a later checkpoint subsumes this one) before
     * the copy was registered found nothing to delete on any node; the copy it missed goes here.
     * Any delete after the registration finds the copy through Redis. Not knowing (an I/O error)
     * keeps the copy: its TTL bounds it.
     */
    StillCurrent ASSUMED_THERE = () -> true;

    boolean check() throws IOException;
  }

  final CheckpointCacheClient client;
  final CheckpointCacheSettings settings;
  final CheckpointCacheMetrics metrics;
  private final ThreadPoolExecutor executor;
  /** Threads of uploads streamed while written: each waits on its file's writer. */
  private final ExecutorService streamExecutor;
  private final Semaphore streams;
  final Map<String, UploadTask> inFlight = new ConcurrentHashMap<>();
  /**
   * Uploads taken off the queue into a batch and not finished yet: they still count against
   * {@code upload.max-pending} (with the queue's own), so that batching does not let more files
   * wait for the agent, or more spool files pile up, than the setting says.
   */
  private final AtomicInteger joinedPending = new AtomicInteger();
  private final Path spoolDir;
  private static final FileAttribute<Set<PosixFilePermission>> SPOOL_FOR_AGENT =
      PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-r-----"));
  /** Spool files in the shared ingest directory older than this are a dead process's: removed. */
  static final Duration ORPHANED_SPOOL_AGE = Duration.ofHours(24);
  /** After the agent refused an Ingest for a reason of set-up, uploads stream for this long. */
  static final Duration INGEST_PAUSE = Duration.ofMinutes(5);
  /** This process's spool files in the ingest directory start with it (close() removes them). */
  private final String ingestPrefix = "ckc-" + UUID.randomUUID().toString().substring(0, 8) + "-";
  private volatile long ingestPausedUntilNanos = System.nanoTime();
  final OncePerMinuteWarning warning = new OncePerMinuteWarning(LOG);

  CacheUploader(
      CheckpointCacheClient client, CheckpointCacheSettings settings, CheckpointCacheMetrics metrics)
      throws IOException {
    this.client = client;
    this.settings = settings;
    this.metrics = metrics;
    Files.createDirectories(settings.spoolDir());
    if (settings.ingestDir() != null) {
      Files.createDirectories(settings.ingestDir());
      removeOrphanedSpools(settings.ingestDir());
    }
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
    AtomicInteger streamNo = new AtomicInteger();
    this.streams = new Semaphore(settings.uploadStreams());
    this.streamExecutor =
        Executors.newCachedThreadPool(
            r -> {
              Thread t = new Thread(r, "checkpoint-cache-stream-" + streamNo.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
  }

  /**
   * Where a writer keeps the local copy of a file until it is cached. (An uploader exists only
   * when upload is ASYNC or SYNC: see {@link UploadingCacheAccess}.)
   */
  Path newSpoolFile() throws IOException {
    Path ingestDir = settings.ingestDir();
    if (ingestDir == null) return Files.createTempFile(spoolDir, "file-", ".spool");
    // In the agent's ingest directory, which only takes a file name: no subdirectory of ours.
    // Readable by the group, so an agent of the directory's group (setgid) can copy it; set again
    // after the create, which the process's umask may have narrowed (077 would make it 0600).
    Path spool = Files.createTempFile(ingestDir, ingestPrefix, ".spool", SPOOL_FOR_AGENT);
    try {
      Files.setPosixFilePermissions(spool, SPOOL_FOR_AGENT.value());
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(spool);
      throw e;
    }
    return spool;
  }

  /**
   * True when {@code spool} is a file the agent can take by name (see {@link #newSpoolFile}): in
   * its ingest directory, the agent reached over its Unix socket (Ingest's only transport), and
   * no refusal of set-up in the last {@link #INGEST_PAUSE}.
   */
  boolean ingestable(Path spool) {
    Path ingestDir = settings.ingestDir();
    return ingestDir != null
        && ingestDir.equals(spool.getParent())
        && settings.agent().startsWith("unix:")
        && System.nanoTime() - ingestPausedUntilNanos >= 0;
  }

  /** The agent refused an Ingest for a reason of set-up: stream uploads for a while. */
  void pauseIngest() {
    ingestPausedUntilNanos = System.nanoTime() + INGEST_PAUSE.toNanos();
  }

  /**
   * Removes spool files of processes that died without cleaning up (a TaskManager killed): the
   * ingest directory outlives them. Only this plugin's names ({@code ckc-*.spool}), and only those
   * older than {@link #ORPHANED_SPOOL_AGE}, far longer than any upload waits.
   */
  private static void removeOrphanedSpools(Path ingestDir) {
    long cutoff = System.currentTimeMillis() - ORPHANED_SPOOL_AGE.toMillis();
    int removed = 0;
    try (DirectoryStream<Path> files = Files.newDirectoryStream(ingestDir, "ckc-*.spool")) {
      for (Path f : files) {
        try {
          if (Files.getLastModifiedTime(f, LinkOption.NOFOLLOW_LINKS).toMillis() < cutoff
              && Files.deleteIfExists(f)) {
            removed++;
          }
        } catch (IOException e) {
          LOG.debug("checkpoint-cache: cannot remove orphaned spool file {}", f, e);
        }
      }
    } catch (IOException e) {
      LOG.warn("checkpoint-cache: cannot list the ingest directory {}: {}", ingestDir, e.toString());
    }
    if (removed > 0) {
      LOG.info("checkpoint-cache: removed {} orphaned spool files from {}", removed, ingestDir);
    }
  }

  /**
   * Caches a file the real file system now holds: in SYNC mode before returning, in ASYNC mode
   * later. Takes ownership of the spool file. Never throws.
   */
  void upload(Upload upload) {
    upload(upload, StillCurrent.ASSUMED_THERE);
  }

  /** As {@link #upload(Upload)}; {@code stillThere} is checked once the copy is committed. */
  void upload(Upload upload, StillCurrent stillThere) {
    UploadTask task = new UploadTask(this, upload, StillCurrent.WRITTEN, null, stillThere);
    UploadTask previous = inFlight.put(upload.key(), task);
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
      if (pending() >= settings.maxPendingUploads()) throw new RejectedExecutionException();
      executor.execute(task);
    } catch (RejectedExecutionException e) {
      metrics.uploadDropped();
      warning.warn(
          "upload queue full ({} files); not caching {}", settings.maxPendingUploads(), upload.key());
      task.finish();
    }
  }

  /**
   * Starts copying a file into the cache while it is being written to {@code spool}, if fewer than
   * {@code upload.streams} files stream now; null otherwise (the caller keeps the spool file and
   * calls {@link #upload} after close). The writer asks at create or, in ASYNC mode with batching
   * on, once its file grew past {@link #streamSlotPast}: {@code spool} may hold its first bytes
   * already (the upload reads it from its start). The returned spool's writer seals it after the
   * real stream closed successfully (the upload then sends the rest and commits), or aborts it
   * (the upload's call is cancelled). Takes ownership of the spool file. Never throws, never
   * waits.
   */
  GrowingSpool streamWhileWritten(String key, CheckpointLabels labels, Path spool) {
    return streamWhileWritten(key, labels, spool, StillCurrent.ASSUMED_THERE);
  }

  /** As above; {@code stillThere} is checked once the copy is committed. */
  GrowingSpool streamWhileWritten(
      String key, CheckpointLabels labels, Path spool, StillCurrent stillThere) {
    if (!streams.tryAcquire()) return null;
    GrowingSpool growing = new GrowingSpool(spool);
    Upload upload = new Upload(key, spool, -1, 0, labels);
    UploadTask task = new UploadTask(this, upload, StillCurrent.WRITTEN, growing, stillThere);
    UploadTask previous = inFlight.put(key, task);
    if (previous != null) {
      previous.cancel();
      task.after(previous);
    }
    metrics.uploadQueued();
    try {
      streamExecutor.execute(
          () -> {
            try {
              task.run();
            } finally {
              streams.release();
            }
          });
    } catch (RejectedExecutionException e) {
      // The uploader is closing: nothing is cached any more.
      streams.release();
      metrics.uploadCancelled();
      task.finish();
    }
    return growing;
  }

  /**
   * How large a file being written grows before it asks for a stream slot ({@link
   * #streamWhileWritten}): past {@code upload.batch-max-bytes} in ASYNC mode with batching on, so
   * that a file closed at or under it is copied after close, where it may join an {@link
   * UploadBatch} ({@link #joinWaiting} takes only such files); -1 otherwise: it asks at create,
   * as before batching (SYNC sends no batches, and with batching off there is none to join).
   */
  long streamSlotPast() {
    long maxBytes = settings.uploadBatchMaxBytes();
    return maxBytes > 0 && settings.upload() == UploadMode.ASYNC ? maxBytes : -1;
  }

  /** True when a writer's close waits until its file is committed (or failed): SYNC. */
  boolean waitsInClose() {
    return settings.upload() == UploadMode.SYNC;
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
    if (settings.maxPendingUploads() - pending() <= settings.maxPendingUploads() / 2) {
      metrics.fillDropped();
      warning.warn(
          "upload queue half full (of {} files); not filling {}",
          settings.maxPendingUploads(),
          upload.key());
      deleteSpool(upload.spool());
      return;
    }
    UploadTask task = new UploadTask(this, upload, stillCurrent);
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
   * The small uploads waiting in the queue that {@code leader}, a small upload that an upload
   * thread has just taken off it, sends along in one {@link UploadBatch}: at most {@link
   * UploadBatch#MAX_ITEMS} files and {@link UploadBatch#MAX_BYTES} with the leader's, in queue
   * order. Empty when batching is off, in SYNC mode (the leader runs on its writer's thread), when
   * the leader is not small itself, or when no other small upload waits. A task returned is off
   * the queue: no upload thread runs it, and close() no longer finds it there; the batch
   * finishes it.
   */
  List<UploadTask> joinWaiting(UploadTask leader) {
    long maxBytes = settings.uploadBatchMaxBytes();
    if (maxBytes == 0 || settings.upload() != UploadMode.ASYNC || !leader.batchable(maxBytes)) {
      return List.of();
    }
    List<UploadTask> joined = new ArrayList<>();
    long bytes = leader.size();
    // Weakly consistent: tasks queued or taken meanwhile are seen or not; remove() decides.
    for (Runnable waiting : executor.getQueue()) {
      if (joined.size() + 1 >= UploadBatch.MAX_ITEMS) break;
      if (waiting instanceof UploadTask task
          && task.batchable(maxBytes)
          && task.mayJoin()
          && bytes + task.size() <= UploadBatch.MAX_BYTES
          && executor.remove(task)) {
        joined.add(task);
        bytes += task.size();
        joinedPending.incrementAndGet();
      }
    }
    return joined;
  }

  /** A task joinWaiting returned has finished. */
  void joinedFinished() {
    joinedPending.decrementAndGet();
  }

  /** Uploads and fills waiting: in the queue, or taken into a batch and not finished. */
  private int pending() {
    return executor.getQueue().size() + joinedPending.get();
  }

  /**
   * Makes sure an upload of {@code key} that has not finished leaves nothing in the cache. The
   * caller deletes the entry afterwards; an upload that completes after that deletes it itself.
   */
  void cancel(String key) {
    UploadTask task = inFlight.get(key);
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
      if (never instanceof UploadTask task) task.finish();
    }
    // Streamed uploads always run at once; interrupted, they end as cancelled.
    streamExecutor.shutdownNow();
    try {
      executor.awaitTermination(5, TimeUnit.SECONDS);
      streamExecutor.awaitTermination(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    inFlight.values().forEach(UploadTask::cancel);
    try (var files = Files.list(spoolDir)) {
      for (Path f : (Iterable<Path>) files::iterator) Files.deleteIfExists(f);
      Files.deleteIfExists(spoolDir);
    } catch (IOException e) {
      LOG.debug("checkpoint-cache: cannot clean the spool directory {}", spoolDir, e);
    }
    // The shared ingest directory: this process's files only.
    if (settings.ingestDir() != null) {
      try (DirectoryStream<Path> files =
          Files.newDirectoryStream(settings.ingestDir(), ingestPrefix + "*.spool")) {
        for (Path f : files) Files.deleteIfExists(f);
      } catch (IOException e) {
        LOG.debug("checkpoint-cache: cannot clean {} of its spool files", settings.ingestDir(), e);
      }
    }
  }

  static void deleteSpool(Path spool) {
    try {
      Files.deleteIfExists(spool);
    } catch (IOException e) {
      LOG.debug("checkpoint-cache: cannot delete spool file {}", spool, e);
    }
  }

}
