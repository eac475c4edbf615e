package io.checkpointcache.client;

import com.google.protobuf.UnsafeByteOperations;
import io.checkpointcache.v1.CheckpointCacheGrpc;
import io.checkpointcache.v1.Chunk;
import io.checkpointcache.v1.EntryInfo;
import io.checkpointcache.v1.WriteHeader;
import io.checkpointcache.v1.WriteRequest;
import io.checkpointcache.v1.WriteResponse;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.util.zip.CRC32C;

/**
 * The client side of one Write: the header first, then the source cut into chunks carrying their
 * offset and CRC32C, sent only while the call is ready (HTTP/2 flow control), so memory stays at
 * about one chunk plus grpc's small send buffer however large the entry.
 * Owns: chunking, per-chunk and whole-entry checksums, write backpressure. Never: closing the
 * caller's source, or retrying (the caller knows whether that is safe).
 */
final class EntryUpload implements ClientResponseObserver<WriteRequest, WriteResponse> {
  private final String key;
  private final long idleTimeoutMs;
  private final Object lock = new Object();
  private ClientCallStreamObserver<WriteRequest> requestStream;
  // Guarded by lock.
  private WriteResponse response;
  private Throwable error;
  private boolean settled;
  private boolean timedOut;

  private EntryUpload(String key, long idleTimeoutMs) {
    this.key = key;
    this.idleTimeoutMs = idleTimeoutMs;
  }

  static PutResult run(
      CheckpointCacheGrpc.CheckpointCacheStub stub,
      String key,
      InputStream source,
      PutOptions options,
      int chunkSize,
      long idleTimeoutMs)
      throws IOException {
    EntryUpload upload = new EntryUpload(key, idleTimeoutMs);
    stub.write(upload);
    return upload.send(source, options, chunkSize);
  }

  private PutResult send(InputStream source, PutOptions options, int chunkSize)
      throws IOException {
    WriteHeader header = headerOf(key, options);
    CRC32C whole = new CRC32C();
    long offset = 0;
    try {
      sendMessage(WriteRequest.newBuilder().setHeader(header).build());
      for (; ; ) {
        // A fresh buffer per chunk: grpc may still hold the previous one when this one is read.
        byte[] buffer = new byte[chunkSize];
        int n = source.readNBytes(buffer, 0, chunkSize);
        if (n == 0) break;
        CRC32C crc = new CRC32C();
        crc.update(buffer, 0, n);
        whole.update(buffer, 0, n);
        Chunk chunk =
            Chunk.newBuilder()
                .setOffset(offset)
                .setData(UnsafeByteOperations.unsafeWrap(buffer, 0, n))
                .setCrc32C((int) crc.getValue())
                .build();
        sendMessage(WriteRequest.newBuilder().setChunk(chunk).build());
        offset += n;
        if (n < chunkSize) break;
      }
      requestStream.onCompleted();
      WriteResponse res = awaitResponse();
      if (!res.hasEntry()) {
        throw new CheckpointCacheException(
            Status.Code.INTERNAL, "the agent answered without an entry", "Write", key, null);
      }
      EntryInfo entry = res.getEntry();
      if (entry.getSize() != offset || entry.getCrc32C() != (int) whole.getValue()) {
        throw new CheckpointCacheException(
            Status.Code.DATA_LOSS,
            "the agent stored " + entry.getSize() + " bytes with CRC32C "
                + CheckpointReadStream.hex(entry.getCrc32C()) + ", the client sent " + offset
                + " bytes with " + CheckpointReadStream.hex((int) whole.getValue()),
            "Write",
            key,
            null);
      }
      return new PutResult(entry, res.getCreated());
    } catch (IOException | RuntimeException e) {
      cancelUnlessSettled(e);
      throw e;
    }
  }

  /** Sends one message once the call is ready for it; fails when the call already ended. */
  private void sendMessage(WriteRequest message) throws IOException {
    synchronized (lock) {
      long deadline = System.nanoTime() + idleTimeoutMs * 1_000_000;
      while (!settled && !requestStream.isReady()) {
        long leftMs = (deadline - System.nanoTime()) / 1_000_000;
        if (leftMs <= 0) {
          timedOut = true;
          break;
        }
        waitOnLock(leftMs);
      }
      if (settled) throw endedError();
    }
    if (isTimedOut()) {
      requestStream.cancel("no progress for " + idleTimeoutMs + " ms", null);
      throw stalled();
    }
    requestStream.onNext(message);
  }

  private WriteResponse awaitResponse() throws IOException {
    synchronized (lock) {
      long deadline = System.nanoTime() + idleTimeoutMs * 1_000_000;
      while (!settled) {
        long leftMs = (deadline - System.nanoTime()) / 1_000_000;
        if (leftMs <= 0) {
          timedOut = true;
          break;
        }
        waitOnLock(leftMs);
      }
      if (settled) {
        if (error != null) throw mapError(error);
        if (response == null) {
          throw new CheckpointCacheException(
              Status.Code.INTERNAL, "the agent ended the call without a response", "Write", key,
              null);
        }
        return response;
      }
    }
    requestStream.cancel("no response for " + idleTimeoutMs + " ms", null);
    throw stalled();
  }

  private void waitOnLock(long ms) throws InterruptedIOException {
    try {
      lock.wait(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("write of \"" + key + "\" interrupted");
    }
  }

  private boolean isTimedOut() {
    synchronized (lock) {
      return timedOut;
    }
  }

  private IOException endedError() {
    if (error != null) return mapError(error);
    return new CheckpointCacheException(
        Status.Code.INTERNAL,
        "the agent answered before the client finished sending",
        "Write",
        key,
        null);
  }

  private CheckpointCacheException mapError(Throwable t) {
    if (timedOut) return stalled();
    return CheckpointCacheException.fromGrpc(t, "Write", key);
  }

  private CheckpointCacheException stalled() {
    return new CheckpointCacheException(
        Status.Code.DEADLINE_EXCEEDED,
        "the agent made no progress for " + idleTimeoutMs + " ms",
        "Write",
        key,
        null);
  }

  private void cancelUnlessSettled(Exception cause) {
    boolean cancel;
    synchronized (lock) {
      cancel = !settled;
    }
    if (cancel) requestStream.cancel("the client failed: " + cause.getMessage(), cause);
  }

  // ---- grpc callbacks (grpc's executor) ------------------------------------------------------

  @Override
  public void beforeStart(ClientCallStreamObserver<WriteRequest> stream) {
    requestStream = stream;
    stream.setOnReadyHandler(
        () -> {
          synchronized (lock) {
            lock.notifyAll();
          }
        });
  }

  @Override
  public void onNext(WriteResponse value) {
    synchronized (lock) {
      response = value;
    }
  }

  @Override
  public void onError(Throwable t) {
    synchronized (lock) {
      error = t;
      settled = true;
      lock.notifyAll();
    }
  }

  @Override
  public void onCompleted() {
    synchronized (lock) {
      settled = true;
      lock.notifyAll();
    }
  }

  /** The header of a Write (or an Ingest) of {@code key} with {@code options}. */
  static WriteHeader headerOf(String key, PutOptions options) {
    WriteHeader.Builder header =
        WriteHeader.newBuilder()
            .setKey(key)
            .setJobId(options.jobId())
            .setCheckpointId(options.checkpointId())
            .setTtlMs(options.ttl() == null ? 0 : options.ttl().toMillis());
    if (options.size() != null) header.setSize(options.size());
    if (options.crc32c() != null) header.setCrc32C(options.crc32c());
    return header.build();
  }
}
