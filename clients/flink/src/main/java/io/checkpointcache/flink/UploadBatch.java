package io.checkpointcache.flink;

import io.checkpointcache.client.BatchEntry;
import io.checkpointcache.client.BatchEntryResult;
import java.util.ArrayList;
import java.util.List;

/**
 * Small files written through ckc:// sent to the agent together: one WriteBatch call, in which
 * the agent stores each item exactly as a Write of it (and, started with {@code --pack-max-bytes},
 * packs them into shared files): on the 2-core machine, through ckc:// into a packing agent, 3,708
 * small files a second against 449 with one Write each (docs/benchmarks.md, "Flink plugin: small
 * files through WriteBatch").
 *
 * <p>How a batch forms: an upload thread that takes a small upload after close off the queue also
 * takes the small uploads waiting behind it ({@link CacheUploader#joinWaiting}) and sends them all
 * from here. Every small file is copied after close: with batching on a file asks for a stream slot
 * only once it grows past the batch size ({@link CacheUploader#streamSlotPast}), so batches form
 * whenever small files close faster than the upload threads send them. Chosen over a batcher of its
 * own (a second queue, a thread, a timer): the one bounded queue stays the only place uploads wait
 * (files taken off it into a batch still count against max-pending until they finish, so its drops
 * are unchanged; close() still finds every upload that never ran in it);
 * a batch forms only from files that wait anyway, so no file ever waits for one to fill, and a file
 * that waits alone goes exactly as before (a Write, or an Ingest); a writer's thread never sends
 * one (SYNC uploads are not batched). Each item stays its own {@link UploadTask}: in the in-flight
 * map under its key until its result is judged, so a delete or overwrite cancels it and a newer
 * upload of the key waits for it, as for a single upload.
 *
 * <p>Owns: the batch's bytes in memory (at most {@link #MAX_BYTES}) and its one call. Never: an
 * item's outcome (its task judges it, with the rules of a single upload), cancelling the call for
 * one item (it carries the others too: a cancelled item's stored copy is removed after the call),
 * throwing.
 */
final class UploadBatch {
  /** Most files per call: a quarter of the agent's limit, so one slow call holds few files. */
  static final int MAX_ITEMS = 256;

  /** Most bytes of data per call, well below the 16 MiB message limit; read into memory. */
  static final long MAX_BYTES = 4L * 1024 * 1024;

  private UploadBatch() {}

  /**
   * Sends {@code leader} (running on this thread) and {@code joined} (taken off the queue: no
   * other thread runs them) in one call, then lets each task judge its result and finishes it.
   */
  static void send(CacheUploader owner, UploadTask leader, List<UploadTask> joined) {
    List<UploadTask> tasks = new ArrayList<>(joined.size() + 1);
    tasks.add(leader);
    tasks.addAll(joined);
    List<UploadTask> sent = new ArrayList<>(tasks.size());
    int judged = 0;
    try {
      List<BatchEntry> entries = new ArrayList<>(tasks.size());
      for (UploadTask task : tasks) {
        BatchEntry entry = task.batchEntry();
        // Null: ended already (cancelled, or its spool file unreadable), and counted.
        if (entry == null) continue;
        sent.add(task);
        entries.add(entry);
      }
      if (entries.isEmpty()) return;
      owner.metrics.uploadsBatched(entries.size());
      long start = System.nanoTime();
      List<BatchEntryResult> results = owner.client.writeBatch(entries);
      long share = (System.nanoTime() - start) / entries.size();
      for (; judged < sent.size(); judged++) sent.get(judged).settle(results.get(judged), share);
    } catch (RuntimeException e) {
      // Not an answer (the client reports an agent's failure as each item's result): every item
      // not judged yet counts as failed.
      for (; judged < sent.size(); judged++) sent.get(judged).failed(e);
    } finally {
      for (UploadTask task : tasks) task.finish();
      for (int i = 0; i < joined.size(); i++) owner.joinedFinished();
    }
  }
}
