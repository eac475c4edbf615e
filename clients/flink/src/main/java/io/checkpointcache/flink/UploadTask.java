package io.checkpointcache.flink;

import io.checkpointcache.client.BatchEntry;
import io.checkpointcache.client.BatchEntryResult;
import io.checkpointcache.client.CheckpointCacheException;
import io.checkpointcache.client.PutOptions;
import io.checkpointcache.client.PutResult;
import io.grpc.Context;
import io.grpc.Status;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One file's upload, or fill, for {@link CacheUploader}: one Write or Ingest at a time (once more
 * after ALREADY_EXISTS), cancellable at once, its outcome counted exactly once. Uploads of one key
 * never overlap: a newer one waits for the one it replaced (cancelled by then) to finish, so the
 * older one's clean-up, or its retry after ALREADY_EXISTS, can only ever touch its own copy, never
 * the newer one. A small upload after close may instead be one item of an {@link UploadBatch}
 * (sent by whichever task's thread formed the batch); it is still this task that judges its
 * item's result, with the same rules, and finishes.
 * Owns: its Write or Ingest call and, once finished, its spool file (streamed: its share of it).
 * Never: throwing to the writer or reader, deleting an entry another write created.
 */
final class UploadTask implements Runnable {
  private static final Logger LOG = LoggerFactory.getLogger(UploadTask.class);

  private final CacheUploader owner;
  private final CacheUploader.Upload upload;
  private final CacheUploader.StillCurrent stillCurrent;
  /** A written file's real file, checked after its copy is committed (see ASSUMED_THERE). */
  private final CacheUploader.StillCurrent stillThere;
  /** A fill: counted apart, checked against the real file first, never replaces other bytes. */
  private final boolean fill;
  /** An upload streamed while written: its source, size and CRC32C; null after close. */
  private final GrowingSpool growing;
  private final AtomicBoolean cancelled = new AtomicBoolean();
  private final AtomicBoolean finished = new AtomicBoolean();
  private final CountDownLatch done = new CountDownLatch(1);
  /** The upload of the same key this one replaced; set before the task is run. */
  private volatile UploadTask previous;
  /** The Write in progress, as a context {@link #cancel} can cancel. Guarded by this. */
  private Context.CancellableContext call;

  UploadTask(
      CacheUploader owner, CacheUploader.Upload upload, CacheUploader.StillCurrent stillCurrent) {
    this(owner, upload, stillCurrent, null, CacheUploader.StillCurrent.ASSUMED_THERE);
  }

  UploadTask(
      CacheUploader owner,
      CacheUploader.Upload upload,
      CacheUploader.StillCurrent stillCurrent,
      GrowingSpool growing,
      CacheUploader.StillCurrent stillThere) {
    this.owner = owner;
    this.stillThere = stillThere;
    this.upload = upload;
    this.stillCurrent = stillCurrent;
    this.fill = stillCurrent != CacheUploader.StillCurrent.WRITTEN;
    this.growing = growing;
  }

  void after(UploadTask replaced) {
    previous = replaced;
  }

  /**
   * Stops the upload: a call in progress is cancelled at once (a stale copy does not go on
   * streaming, and a newer upload of the key does not wait for it). Atomic with {@link
   * #deleteUnlessCancelled}: once it returns, this upload deletes nothing but its own copy. An
   * item of a batch in flight has no call of its own: it ends when the batch's call returns
   * (a small, bounded call), and removes its copy if the call stored it.
   */
  synchronized void cancel() {
    cancelled.set(true);
    if (call != null) call.cancel(null);
  }

  @Override
  public void run() {
    try {
      UploadTask p = previous;
      if (p != null) {
        previous = null;
        p.done.await();
      }
      if (cancelled.get() || !stillCurrent()) {
        countCancelled();
        return;
      }
      List<UploadTask> waiting = owner.joinWaiting(this);
      if (!waiting.isEmpty()) {
        UploadBatch.send(owner, this, waiting);
        return;
      }
      long start = System.nanoTime();
      if (put(1)) stored(System.nanoTime() - start);
    } catch (InterruptedException e) {
      // The uploader is closing.
      Thread.currentThread().interrupt();
      countCancelled();
    } catch (RuntimeException e) {
      failed(e);
    } finally {
      finish();
    }
  }

  /**
   * The cache holds the file now: counted; then removed again when the file was deleted or
   * overwritten meanwhile (the caller's delete may have run first), or, for a written file, when
   * its real file is gone (see ASSUMED_THERE).
   */
  private void stored(long nanos) {
    if (fill) owner.metrics.fillSucceeded(upload.size());
    else if (growing != null) owner.metrics.uploadSucceeded(growing.size(), nanos);
    else owner.metrics.uploadSucceeded(upload.size(), nanos);
    if (cancelled.get()) deleteQuietly();
    else if (!fill && !stillThere()) {
      // Deleted by another process before this copy was registered (see ASSUMED_THERE).
      LOG.debug("checkpoint-cache: {} was deleted while it was copied; copy removed", upload.key());
      deleteQuietly();
    }
  }

  /**
   * True when this may be an item of an {@link UploadBatch}: a written file copied after close
   * (neither a fill nor streamed while written) of at most {@code maxBytes}.
   */
  boolean batchable(long maxBytes) {
    return !fill && growing == null && upload.size() <= maxBytes;
  }

  /**
   * True when the upload this one replaced has finished, so joining a batch now keeps uploads of
   * one key from overlapping; a task still waiting for its predecessor runs on its own, later.
   */
  boolean mayJoin() {
    UploadTask p = previous;
    return p == null || p.done.getCount() == 0;
  }

  long size() {
    return upload.size();
  }

  /**
   * This upload as an item of a batch, its bytes read from the spool file; null when it ended
   * here, counted (cancelled meanwhile, or the spool file unreadable). Only after {@link
   * #mayJoin}.
   */
  BatchEntry batchEntry() {
    previous = null;
    if (cancelled.get()) {
      countCancelled();
      return null;
    }
    try {
      return new BatchEntry(upload.key(), Files.readAllBytes(upload.spool()), options());
    } catch (IOException | RuntimeException e) {
      if (cancelled.get()) {
        countCancelled();
      } else {
        countFailed();
        owner.warning.warn("not cached: {}: {}", upload.key(), e.toString());
      }
      return null;
    }
  }

  /**
   * Ends this upload with its item's result from a batch ({@code nanos}: its share of the call).
   * The call was not cancelled when this upload was (it carried others' items too), so a copy
   * that a cancelled upload got stored is removed here, as after a single Write that completed.
   * ALREADY_EXISTS is handled as for a single Write: the stale copy is replaced by a Write of
   * this upload's own, unless it is stale itself. A call cut short by its deadline may have
   * stored the item or not: it is written again on its own (the same bytes are accepted), so
   * that it is counted and checked like any other. Never throws; the caller finishes the task.
   */
  void settle(BatchEntryResult result, long nanos) {
    try {
      if (result.ok()) {
        stored(nanos);
        return;
      }
      CheckpointCacheException e = result.error();
      Status.Code code = e.code();
      if (cancelled.get()) {
        if (code == Status.Code.CANCELLED || code == Status.Code.DEADLINE_EXCEEDED) deleteQuietly();
        countCancelled();
        return;
      }
      int attempt;
      if (code == Status.Code.ALREADY_EXISTS) {
        if (!deleteUnlessCancelled()) {
          countCancelled();
          return;
        }
        LOG.info("checkpoint-cache: replaced a stale cached copy of {}", upload.key());
        attempt = 2;
      } else if (code == Status.Code.DEADLINE_EXCEEDED) {
        attempt = 1;
      } else {
        countFailed();
        owner.warning.warn("not cached: {}: {} {}", upload.key(), code, e.details());
        return;
      }
      long start = System.nanoTime();
      if (put(attempt)) stored(System.nanoTime() - start);
    } catch (RuntimeException e) {
      failed(e);
    }
  }

  /** Ends this upload as failed for {@code e}, thrown where no answer was expected. */
  void failed(RuntimeException e) {
    countFailed();
    owner.warning.warn("{} of {} failed: {}", fill ? "fill" : "upload", upload.key(), e.toString());
  }

  /** False only when the real file is known to be gone; an I/O error keeps the copy. */
  private boolean stillThere() {
    try {
      return stillThere.check();
    } catch (IOException | RuntimeException e) {
      LOG.debug("checkpoint-cache: cannot tell whether {} is still there: {}", upload.key(), e.toString());
      return true;
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
    if (fill) owner.metrics.fillCancelled();
    else owner.metrics.uploadCancelled();
  }

  private void countFailed() {
    if (fill) owner.metrics.fillFailed();
    else owner.metrics.uploadFailed();
  }

  /**
   * The labels, TTL, and for a file copied after close its size and CRC32C. Streamed while
   * written: size and CRC32C are not known yet, so the header has neither (the agent checks each
   * chunk's CRC32C), and the answer is checked against the writer's.
   */
  private PutOptions options() {
    return new PutOptions(
        upload.labels().jobId(),
        upload.labels().checkpointId(),
        growing == null ? upload.size() : null,
        growing == null ? upload.crc32c() : null,
        owner.settings.ttl());
  }

  /**
   * True when the cache holds the file now. {@code attempt} 2: the key's stale copy was already
   * replaced once (a second ALREADY_EXISTS fails).
   */
  private boolean put(int attempt) {
    // Copied by the agent from the spool file, when it sits in the agent's ingest directory.
    boolean ingest = growing == null && owner.ingestable(upload.spool());
    for (; ; attempt++) {
      try (InputStream in =
          growing == null ? Files.newInputStream(upload.spool()) : growing.open(cancelled::get)) {
        PutOptions options = options();
        PutResult result = null;
        if (ingest) {
          try {
            result = putOnce(in, options, true);
          } catch (CheckpointCacheException e) {
            if (cancelled.get() || !ingestRefused(e)) throw e;
            ingest = false;
            owner.pauseIngest();
            owner.warning.warn(
                "Ingest refused ({} {}); streaming {} and the uploads of the next minutes instead."
                    + " Check that checkpoint-cache.ingest-dir is the agent's --ingest-dir and that"
                    + " the agent may read its files",
                e.code(),
                e.details(),
                upload.key());
          }
        }
        if (!ingest) result = putOnce(in, options, false);
        if (result == null) {
          countCancelled();
          return false;
        }
        return growing == null || matchesWriter(result);
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
        owner.warning.warn("not cached: {}: {} {}", upload.key(), e.code(), e.details());
        return false;
      } catch (IOException e) {
        if (cancelled.get() || (growing != null && growing.aborted())) {
          countCancelled();
          return false;
        }
        countFailed();
        owner.warning.warn("not cached: {}: {}", upload.key(), e.toString());
        return false;
      }
    }
  }

  /**
   * A streamed upload's entry is the writer's bytes: the same size and CRC32C as what the real
   * stream took. If not, the copy this write created goes (one it did not create was there
   * before, with the same content the agent compared) and the upload counts as failed.
   */
  private boolean matchesWriter(PutResult result) {
    var entry = result.entry();
    if (entry.getSize() == growing.size() && entry.getCrc32C() == growing.crc32c()) return true;
    if (result.created()) deleteQuietly();
    countFailed();
    owner.warning.warn(
        "not cached: {}: the agent stored {} bytes with CRC32C {}, the writer wrote {} with {}",
        upload.key(),
        entry.getSize(),
        Integer.toHexString(entry.getCrc32C()),
        growing.size(),
        Integer.toHexString(growing.crc32c()));
    return false;
  }

  /**
   * One Write, or one Ingest of the spool file, cancellable by {@link #cancel}; null when the upload
   * was cancelled before. The Ingest hands the spool over (the agent links it instead of copying
   * where it can): this plugin never writes a spool file again once closed, and deletes its name
   * when the upload finishes.
   */
  private PutResult putOnce(InputStream in, PutOptions options, boolean ingest)
      throws IOException {
    Context.CancellableContext context;
    synchronized (this) {
      if (cancelled.get()) return null;
      context = Context.current().withCancellation();
      call = context;
    }
    try {
      return context.call(
          () ->
              ingest
                  ? owner.client.ingest(upload.key(), spoolName(), options, true)
                  : owner.client.put(upload.key(), in, options));
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

  private String spoolName() {
    return upload.spool().getFileName().toString();
  }

  /**
   * An Ingest the agent could not do that streaming may: no ingest directory or an older agent,
   * the file not visible to it (another mount), not readable by it, or not over its socket.
   */
  private static boolean ingestRefused(CheckpointCacheException e) {
    return switch (e.code()) {
      case FAILED_PRECONDITION, UNIMPLEMENTED, NOT_FOUND, PERMISSION_DENIED, INVALID_ARGUMENT -> true;
      default -> false;
    };
  }

  /** Deletes whatever the key holds, unless this upload was cancelled; see {@link #cancel}. */
  private synchronized boolean deleteUnlessCancelled() {
    if (cancelled.get()) return false;
    deleteQuietly();
    return true;
  }

  private void deleteQuietly() {
    try {
      owner.client.delete(upload.key());
    } catch (CheckpointCacheException e) {
      LOG.debug("checkpoint-cache: delete of {} failed: {}", upload.key(), e.code());
    }
  }

  void finish() {
    if (!finished.compareAndSet(false, true)) return;
    owner.inFlight.remove(upload.key(), this);
    if (growing != null) growing.releaseByUpload();
    else CacheUploader.deleteSpool(upload.spool());
    owner.metrics.uploadLeftQueue();
    if (growing != null) growing.uploadCounted();
    done.countDown();
  }
}
