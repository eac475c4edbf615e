package io.checkpointcache.client;

import com.google.protobuf.UnsafeByteOperations;
import io.checkpointcache.v1.CheckpointCacheGrpc;
import io.checkpointcache.v1.EntryInfo;
import io.checkpointcache.v1.WriteBatchItem;
import io.checkpointcache.v1.WriteBatchRequest;
import io.checkpointcache.v1.WriteBatchResponse;
import io.checkpointcache.v1.WriteBatchResult;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.zip.CRC32C;

/**
 * The client side of WriteBatch, as the TypeScript client's {@code writeBatch}: small entries in
 * memory sent a batch per call (at most {@link #MAX_BATCH_ITEMS} items and about {@link
 * #MAX_BATCH_BYTES} of data per call), one result per entry; an entry too large for a batch goes
 * alone through {@code put}, and so does every entry while the agent is known not to serve
 * WriteBatch (it answered UNIMPLEMENTED).
 *
 * <p>Owns: splitting, each item's outcome and its check against what was sent. Never: retrying an
 * item, remembering that the agent lacks WriteBatch (the client does).
 */
final class EntryBatch {
  /** Most items the agent takes in one WriteBatch (the contract's limit). */
  static final int MAX_BATCH_ITEMS = 1000;

  /** Bytes of data per call: half the 16 MiB message limit, room for keys and framing. */
  static final long MAX_BATCH_BYTES = 8L * 1024 * 1024;

  /** Deadline per item beyond the unary one (a disk that commits a few hundred files a second). */
  private static final long DEADLINE_MS_PER_ITEM = 20;

  /** One entry as a single put (entries too large for a batch, and the fallback). */
  interface SinglePut {
    PutResult put(BatchEntry entry) throws IOException;
  }

  private final List<BatchEntry> entries;
  private final CheckpointCacheGrpc.CheckpointCacheBlockingStub stub;
  private final long unaryTimeoutMs;
  private final SinglePut single;
  private final BooleanSupplier batchUnsupported;
  private final Runnable noteUnsupported;
  private final BatchEntryResult[] results;

  private EntryBatch(
      List<BatchEntry> entries,
      CheckpointCacheGrpc.CheckpointCacheBlockingStub stub,
      long unaryTimeoutMs,
      SinglePut single,
      BooleanSupplier batchUnsupported,
      Runnable noteUnsupported) {
    this.entries = entries;
    this.stub = stub;
    this.unaryTimeoutMs = unaryTimeoutMs;
    this.single = single;
    this.batchUnsupported = batchUnsupported;
    this.noteUnsupported = noteUnsupported;
    this.results = new BatchEntryResult[entries.size()];
  }

  /**
   * One result per entry of {@code entries}. {@code batchUnsupported} says whether the agent is
   * known to lack WriteBatch; {@code noteUnsupported} is told when it answers UNIMPLEMENTED.
   */
  static List<BatchEntryResult> run(
      List<BatchEntry> entries,
      CheckpointCacheGrpc.CheckpointCacheBlockingStub stub,
      long unaryTimeoutMs,
      SinglePut single,
      BooleanSupplier batchUnsupported,
      Runnable noteUnsupported) {
    return new EntryBatch(entries, stub, unaryTimeoutMs, single, batchUnsupported, noteUnsupported)
        .sendAll();
  }

  private List<BatchEntryResult> sendAll() {
    List<Integer> batch = new ArrayList<>();
    long batchBytes = 0;
    for (int i = 0; i < entries.size(); i++) {
      BatchEntry e = entries.get(i);
      long cost = e.data().length + e.key().getBytes(StandardCharsets.UTF_8).length + 64L;
      if (cost > MAX_BATCH_BYTES) {
        results[i] = putOne(e);
        continue;
      }
      if (batch.size() == MAX_BATCH_ITEMS || batchBytes + cost > MAX_BATCH_BYTES) {
        send(batch);
        batch.clear();
        batchBytes = 0;
      }
      batch.add(i);
      batchBytes += cost;
    }
    if (!batch.isEmpty()) send(batch);
    return List.of(results);
  }

  private void send(List<Integer> batch) {
    if (!batchUnsupported.getAsBoolean()) {
      WriteBatchRequest.Builder request = WriteBatchRequest.newBuilder();
      long[] sizes = new long[batch.size()];
      int[] crcs = new int[batch.size()];
      for (int j = 0; j < batch.size(); j++) {
        BatchEntry e = entries.get(batch.get(j));
        PutOptions o = e.options();
        sizes[j] = e.data().length;
        // An item has no chunk checksums: the header's CRC32C catches bytes damaged on the way.
        if (o.crc32c() != null) {
          crcs[j] = o.crc32c();
        } else {
          CRC32C crc = new CRC32C();
          crc.update(e.data());
          crcs[j] = (int) crc.getValue();
        }
        PutOptions sent = o.withSize(sizes[j]).withCrc32c(crcs[j]);
        request.addItems(
            WriteBatchItem.newBuilder()
                .setHeader(EntryUpload.headerOf(e.key(), sent))
                // Wrapped, not copied: the caller keeps the array unchanged until the call returns.
                .setData(UnsafeByteOperations.unsafeWrap(e.data())));
      }
      long deadlineMs = unaryTimeoutMs + batch.size() * DEADLINE_MS_PER_ITEM;
      WriteBatchResponse response = null;
      StatusRuntimeException failed = null;
      try {
        response =
            stub.withDeadlineAfter(deadlineMs, TimeUnit.MILLISECONDS).writeBatch(request.build());
      } catch (StatusRuntimeException e) {
        failed = e;
      }
      if (failed == null || failed.getStatus().getCode() != Status.Code.UNIMPLEMENTED) {
        for (int j = 0; j < batch.size(); j++) {
          String key = entries.get(batch.get(j)).key();
          BatchEntryResult r;
          if (failed != null) {
            // The call failed as a whole (refused, or cut short): every item shares its status.
            r = failure(CheckpointCacheException.fromGrpc(failed, "WriteBatch", key));
          } else if (response.getResultsCount() != batch.size()) {
            r =
                failure(
                    new CheckpointCacheException(
                        Status.Code.INTERNAL,
                        "the agent answered "
                            + response.getResultsCount()
                            + " results for "
                            + batch.size()
                            + " items",
                        "WriteBatch",
                        key,
                        null));
          } else {
            r = resultOf(response.getResults(j), key, sizes[j], crcs[j]);
          }
          results[batch.get(j)] = r;
        }
        return;
      }
      noteUnsupported.run();
    }
    for (int i : batch) results[i] = putOne(entries.get(i));
  }

  private static BatchEntryResult resultOf(
      WriteBatchResult answer, String key, long size, int crc) {
    if (answer.getCode() != Status.Code.OK.value()) {
      return failure(
          new CheckpointCacheException(
              Status.fromCodeValue(answer.getCode()).getCode(),
              answer.getMessage(),
              "WriteBatch",
              key,
              null));
    }
    EntryInfo entry = answer.getEntry();
    // As for put: what the agent says it stored must be what was sent.
    if (!answer.hasEntry()) {
      return failure(
          new CheckpointCacheException(
              Status.Code.INTERNAL,
              "the agent answered without an entry",
              "WriteBatch",
              key,
              null));
    }
    if (entry.getSize() != size || entry.getCrc32C() != crc) {
      return failure(
          new CheckpointCacheException(
              Status.Code.DATA_LOSS,
              "the agent stored "
                  + entry.getSize()
                  + " bytes with CRC32C "
                  + CheckpointReadStream.hex(entry.getCrc32C())
                  + ", the client sent "
                  + size
                  + " bytes with "
                  + CheckpointReadStream.hex(crc),
              "WriteBatch",
              key,
              null));
    }
    return new BatchEntryResult(new PutResult(entry, answer.getCreated()), null);
  }

  private BatchEntryResult putOne(BatchEntry e) {
    try {
      return new BatchEntryResult(single.put(e), null);
    } catch (CheckpointCacheException err) {
      return failure(err);
    } catch (IOException err) {
      return failure(
          new CheckpointCacheException(
              Status.Code.INTERNAL, String.valueOf(err), "Write", e.key(), err));
    }
  }

  private static BatchEntryResult failure(CheckpointCacheException error) {
    return new BatchEntryResult(null, error);
  }
}
