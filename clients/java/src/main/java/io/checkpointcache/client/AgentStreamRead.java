package io.checkpointcache.client;

import io.checkpointcache.v1.EntryInfo;
import io.checkpointcache.v1.ReadHeader;
import io.checkpointcache.v1.ReadRequest;
import io.checkpointcache.v1.ReadResponse;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.Optional;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The agent-stream phase of one read: one {@code Read} call for a range, its messages turned into
 * verified steps ({@link #next}) the read stream acts on: a header that describes the range asked
 * for, a chunk whose CRC32C and offset check, the end, or a failure the fallback policy names.
 *
 * <p>Owns: the call, its flow control (a couple of messages requested ahead) and its timeouts
 * (first message, then idle). Never: deciding what a failure leads to, delivering bytes or moving
 * the read's position ({@link CheckpointReadStream} does), or calling the agent a second time.
 * Not thread-safe: one reader thread; grpc-java's executor only fills the queue.
 */
final class AgentStreamRead {
  /** Messages requested ahead of the caller: one to hand out, one in flight. */
  private static final int PREFETCH = 2;

  /** What the agent's stream produced next; exactly one of these per {@link #next} call. */
  sealed interface Step permits Header, Data, Ended, Failed {}

  /**
   * A header that describes the range asked for: {@code entry} as the agent described it (null:
   * not described), {@code end} the absolute end (exclusive) of the range it will stream.
   */
  record Header(EntryInfo entry, long end) implements Step {}

  /** A verified chunk starting at the position passed to {@link #next}. */
  record Data(ByteBuffer bytes) implements Step {}

  /** The call ended OK after streaming the whole range. */
  record Ended() implements Step {}

  /** The agent failed in a way the fallback policy names. */
  record Failed(FallbackReason reason, CheckpointCacheException error) implements Step {}

  private final ReadPlan plan;
  private final long offset;
  private final Long length;
  /** The entry a short circuit leased before this stream started; null when none did. */
  private final EntryInfo leased;
  private final Call call = new Call();
  private ReadHeader header;
  private long end;

  /**
   * Starts streaming {@code length} bytes (null: to the entry's end) from {@code offset}: the
   * read's range, or the rest of it after a short circuit.
   */
  AgentStreamRead(ReadPlan plan, long offset, Long length, EntryInfo leased) {
    this.plan = plan;
    this.offset = offset;
    this.length = length;
    this.leased = leased;
    ReadRequest.Builder request =
        ReadRequest.newBuilder()
            .setKey(plan.key())
            .setOffset(offset)
            .setMaxChunkSize(plan.maxChunkSize());
    if (length != null) request.setLength(length);
    plan.stub().read(request.build(), call);
  }

  /**
   * Waits for the agent's next message (at most the first-message timeout before the header, the
   * idle timeout after it) and checks it against {@code position}, the next byte the read needs.
   *
   * @throws InterruptedIOException the reader thread was interrupted
   * @throws CheckpointCacheException the agent answered with a status the fallback policy does not
   *     act on (the caller's mistake: the remote store would refuse it too)
   */
  Step next(long position) throws IOException {
    long timeoutMs = header == null ? plan.firstMessageTimeoutMs() : plan.idleTimeoutMs();
    Object event;
    try {
      event = call.events.poll(timeoutMs, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new InterruptedIOException("read of \"" + plan.key() + "\" interrupted");
    }
    if (event == null) {
      return header == null
          ? failed(
              FallbackReason.FIRST_MESSAGE_TIMEOUT,
              "no header from the agent within " + timeoutMs + " ms")
          : failed(
              FallbackReason.IDLE_TIMEOUT, "no message from the agent for " + timeoutMs + " ms");
    }
    if (event instanceof ReadResponse message) {
      call.requestStream.request(1);
      return switch (message.getKindCase()) {
        case HEADER -> onHeader(message.getHeader());
        case CHUNK -> onChunk(message.getChunk(), position);
        default -> failed(FallbackReason.PROTOCOL_ERROR, "message with neither header nor chunk");
      };
    }
    Status status = ((CallEnded) event).status();
    return status.isOk() ? onEnd(position) : onError(status);
  }

  /** Cancels the call (idempotent); nothing more is read from it. */
  void cancel() {
    call.cancel();
  }

  private Step onHeader(ReadHeader h) {
    if (header != null) return failed(FallbackReason.PROTOCOL_ERROR, "second header");
    EntryInfo entry = h.hasEntry() ? h.getEntry() : null;
    String problem = ReadChecks.headerProblem(h, offset, length);
    if (problem == null) problem = ReadChecks.leaseProblem(entry, leased);
    if (problem != null) return failed(FallbackReason.BAD_HEADER, problem);
    if (plan.expected() != null) {
      String stale =
          entry == null ? "the agent did not describe its copy" : plan.expected().staleness(entry);
      if (stale != null) return failed(FallbackReason.STALE_ENTRY, stale);
    }
    header = h;
    end = offset + h.getLength();
    return new Header(entry, end);
  }

  private Step onChunk(io.checkpointcache.v1.Chunk c, long position) {
    if (header == null) return failed(FallbackReason.PROTOCOL_ERROR, "chunk before the header");
    ByteBuffer bytes = c.getData().asReadOnlyByteBuffer();
    ReadChecks.Problem problem = ReadChecks.chunkProblem(c, bytes, position, end);
    return problem == null ? new Data(bytes) : failed(problem.reason(), problem.detail());
  }

  private Step onEnd(long position) {
    if (header == null) {
      return failed(FallbackReason.PROTOCOL_ERROR, "stream ended without a header");
    }
    if (position < end) {
      return failed(
          FallbackReason.ENDED_EARLY,
          "stream ended at offset " + position + ", header promised up to " + end);
    }
    return new Ended();
  }

  private Step onError(Status status) throws CheckpointCacheException {
    CheckpointCacheException error =
        CheckpointCacheException.fromGrpc(status.asRuntimeException(), "Read", plan.key());
    if (status.getCode() == Status.Code.INVALID_ARGUMENT
        && plan.expected() != null
        && plan.expected().covers(plan.offset(), plan.length())) {
      // Not the caller's mistake: the remote file has this range, so the agent's copy is shorter.
      return new Failed(FallbackReason.STALE_ENTRY, error);
    }
    Optional<FallbackReason> reason = FallbackReason.ofStatus(status.getCode());
    if (reason.isEmpty()) throw error;
    return new Failed(reason.get(), error);
  }

  private Failed failed(FallbackReason reason, String details) {
    return new Failed(reason, reason.error(details, plan.key()));
  }

  /** The terminal event of the agent's call; OK or an error status. */
  private record CallEnded(Status status) {}

  /**
   * The call to the agent. grpc-java delivers its messages on its executor; they wait in a queue
   * bounded by flow control (PREFETCH messages requested ahead, plus the terminal event).
   */
  private static final class Call implements ClientResponseObserver<ReadRequest, ReadResponse> {
    final BlockingQueue<Object> events = new LinkedBlockingQueue<>();
    volatile ClientCallStreamObserver<ReadRequest> requestStream;

    @Override
    public void beforeStart(ClientCallStreamObserver<ReadRequest> stream) {
      requestStream = stream;
      stream.disableAutoRequestWithInitial(PREFETCH);
    }

    @Override
    public void onNext(ReadResponse value) {
      events.add(value);
    }

    @Override
    public void onError(Throwable t) {
      events.add(new CallEnded(Status.fromThrowable(t)));
    }

    @Override
    public void onCompleted() {
      events.add(new CallEnded(Status.OK));
    }

    void cancel() {
      requestStream.cancel("the client is done with this read", null);
      events.clear();
    }
  }
}
