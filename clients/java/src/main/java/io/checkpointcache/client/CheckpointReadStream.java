package io.checkpointcache.client;

import com.google.protobuf.ByteString;
import io.checkpointcache.client.remote.RemoteStore;
import io.checkpointcache.client.remote.RemoteStoreException;
import io.checkpointcache.v1.CheckpointCacheGrpc;
import io.checkpointcache.v1.EntryInfo;
import io.checkpointcache.v1.ReadHeader;
import io.checkpointcache.v1.ReadRequest;
import io.checkpointcache.v1.ReadResponse;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * One read of an entry: reads the leased file directly when the short circuit is on
 * ({@link ShortCircuitRead}), else (or from where that stopped) streams it from the node agent
 * and, when the agent fails in any way
 * {@link FallbackReason} names, continues from the remote store at exactly the next undelivered
 * byte, so the caller sees every byte once whichever source it came from.
 *
 * <p>Owns: the read state machine, chunk verification and flow control towards the agent. Never:
 * buffering more than a couple of chunks, or retrying the agent after it failed once (a second
 * failure mode would only delay the remote read). Not thread-safe, like any InputStream.
 */
public final class CheckpointReadStream extends InputStream {
  /** Messages requested ahead of the caller: one to hand out, one in flight. */
  private static final int PREFETCH = 2;

  private enum Phase {
    IDLE,
    /** Reading the leased file directly (same-node short circuit). */
    DIRECT,
    LOCAL,
    REMOTE,
    ENDED,
    FAILED,
    CLOSED
  }

  /** What the client hands a read. */
  record Plan(
      CheckpointCacheGrpc.CheckpointCacheStub stub,
      AgentChannel channel,
      String key,
      long offset,
      Long length,
      int maxChunkSize,
      URI remoteUri,
      RemoteStore remoteStore,
      long firstMessageTimeoutMs,
      long idleTimeoutMs,
      /** Deadline of the best-effort ReportCorrupt call. */
      long reportTimeoutMs,
      ClientStats stats,
      /** Skip the agent: a previous read of the same file already showed it cannot serve it. */
      boolean remoteOnly,
      /** The remote file the entry must be a copy of; null: any entry under the key will do. */
      RemoteVersion expected,
      /** Set: try the same-node short circuit first. */
      ShortCircuitRead.Setup shortCircuit) {}

  private final Plan plan;
  private Phase phase = Phase.IDLE;
  private LocalCall call;
  private InputStream remoteStream;
  /** Absolute offset of the next byte the caller gets. */
  private long position;
  /** Absolute end (exclusive) once known: from the requested length or the agent's header. */
  private Long end;
  private ReadHeader header;
  /** The entry as the lease or the agent's header described it. */
  private EntryInfo entry;
  private ShortCircuitRead direct;
  /**
   * CRC of everything delivered, kept when the read covers the whole entry; short-circuited bytes
   * are not in it but in directCrc (their CRC32C is known from the block checks).
   */
  private CRC32C wholeCrc;
  /** CRC32C of the short-circuited bytes delivered, all before any other, and how many. */
  private int directCrc;
  private long directCrcLength;
  /** CRC32C and length of the short-circuit chunk being handed out, folded in once it is. */
  private int chunkCrc;
  private int chunkLength;
  /** Set once {@link #checkWhole} has run: the verdict is reached once, at the last byte. */
  private boolean wholeChecked;
  /** The verified chunk being handed out; its position is the next byte to deliver. */
  private ByteBuffer chunk;
  private long fromCache;
  private long fromRemote;
  private FallbackEvent fallback;
  private IOException failure;

  CheckpointReadStream(Plan plan) {
    this.plan = plan;
    this.position = plan.offset();
    this.end = plan.length() == null ? null : plan.offset() + plan.length();
    plan.stats().readStarted();
  }

  /** The entry key. */
  public String key() {
    return plan.key();
  }

  /** Absolute offset in the entry of the next byte {@code read} returns. */
  public long position() {
    return position;
  }

  /** Bytes delivered so far that came from the node agent. */
  public long bytesFromCache() {
    return fromCache;
  }

  /** Bytes delivered so far that came from the remote store. */
  public long bytesFromRemote() {
    return fromRemote;
  }

  /** Set once the read has left the agent. */
  public Optional<FallbackEvent> fallback() {
    return Optional.ofNullable(fallback);
  }

  /** The entry as the agent described it, once it sent a header. */
  public Optional<EntryInfo> entry() {
    return Optional.ofNullable(entry);
  }

  /** Bytes the read delivers in all, once known (requested length, or the agent's header). */
  public OptionalLong expectedLength() {
    return end == null ? OptionalLong.empty() : OptionalLong.of(end - plan.offset());
  }

  @Override
  public int read() throws IOException {
    byte[] one = new byte[1];
    int n;
    do {
      n = read(one, 0, 1);
    } while (n == 0);
    return n == -1 ? -1 : one[0] & 0xff;
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    Objects.checkFromIndexSize(off, len, b.length);
    if (len == 0) return 0;
    for (; ; ) {
      switch (phase) {
        case IDLE -> start();
        case DIRECT -> {
          if (chunk != null && chunk.hasRemaining()) {
            int n = Math.min(len, chunk.remaining());
            chunk.get(b, off, n);
            delivered(b, off, n, true, false);
            plan.stats().shortCircuited(n);
            if (!chunk.hasRemaining() && wholeCrc != null) {
              directCrc = Crc32cCombine.combine(directCrc, chunkCrc, chunkLength);
              directCrcLength += chunkLength;
            }
            if (atEnd()) {
              closeDirect();
              checkWhole();
            }
            return n;
          }
          chunk = null;
          nextSpan();
        }
        case LOCAL -> {
          if (chunk != null && chunk.hasRemaining()) {
            int n = Math.min(len, chunk.remaining());
            chunk.get(b, off, n);
            delivered(b, off, n, true);
            if (atEnd()) checkWhole();
            return n;
          }
          chunk = null;
          nextLocalMessage();
        }
        case REMOTE -> {
          int want = end == null ? len : (int) Math.min(len, end - position);
          if (want == 0) {
            finish();
            continue;
          }
          int n;
          try {
            n = remoteStream.read(b, off, want);
          } catch (IOException e) {
            throw fail(remoteError(e));
          }
          if (n == -1) {
            finish();
            continue;
          }
          delivered(b, off, n, false);
          if (atEnd()) checkWhole();
          return n;
        }
        case ENDED -> {
          return -1;
        }
        case FAILED -> throw failure;
        case CLOSED -> throw new IOException("read of \"" + plan.key() + "\": stream closed");
      }
    }
  }

  @Override
  public int available() throws IOException {
    return switch (phase) {
      case DIRECT, LOCAL -> chunk == null ? 0 : chunk.remaining();
      case REMOTE -> remoteStream.available();
      default -> 0;
    };
  }

  /** Ends the read; the call to the agent is cancelled and the remote stream closed. */
  @Override
  public void close() {
    if (phase == Phase.CLOSED) return;
    phase = Phase.CLOSED;
    closeDirect();
    abandonCall();
    closeRemote();
  }

  private void start() throws IOException {
    if (plan.remoteOnly() && plan.remoteStore() != null) {
      openRemote();
    } else if (plan.shortCircuit() != null) {
      startDirect();
    } else {
      startLocal();
    }
  }

  // ---- direct phase (same-node short circuit) ------------------------------------------------

  private void startDirect() throws IOException {
    phase = Phase.DIRECT;
    ShortCircuitRead opened;
    try {
      opened = ShortCircuitRead.open(plan.shortCircuit(), plan.key(), plan.offset(), plan.length());
    } catch (StatusRuntimeException e) {
      plan.stats().shortCircuitMissed();
      Status.Code code = e.getStatus().getCode();
      Optional<FallbackReason> reason = FallbackReason.ofStatus(code);
      if (code != Status.Code.UNIMPLEMENTED && reason.isPresent()) {
        // The agent itself failed the lease (down, hung, entry absent): asking it again with
        // Read would only delay the remote read by another deadline.
        localFailed(
            reason.get(), CheckpointCacheException.fromGrpc(e, "Lease", plan.key()));
      } else {
        // An agent without Lease, or an answer the fallback policy does not act on (a bad key):
        // the agent's stream answers for it.
        startLocal();
      }
      return;
    } catch (ShortCircuitRead.Miss e) {
      // No file to read here (not mounted, removed, another size): the agent's stream answers.
      plan.stats().shortCircuitMissed();
      startLocal();
      return;
    }
    direct = opened;
    EntryInfo leased = opened.entry();
    if (plan.expected() != null) {
      String stale = plan.expected().staleness(leased);
      if (stale != null) {
        closeDirect();
        plan.stats().shortCircuitMissed();
        localFailed(FallbackReason.STALE_ENTRY, stale);
        return;
      }
    }
    entry = leased;
    end = opened.end();
    if (plan.offset() == 0 && end == leased.getSize()) wholeCrc = new CRC32C();
    if (position == end) {
      closeDirect();
      finish();
    }
  }

  /** The next verified span; any failure of the file goes on by streaming from the agent. */
  private void nextSpan() throws IOException {
    if (position == end) {
      closeDirect();
      finish();
      return;
    }
    ShortCircuitRead.Span span;
    try {
      span = direct.next(position);
    } catch (InterruptedIOException e) {
      throw fail(e);
    } catch (IOException e) {
      // Whatever went wrong (file removed, truncated, corrupt, lease lost), the agent's own
      // stream decides: it serves the rest, or answers with a status the fallback policy acts on.
      closeDirect();
      plan.stats().shortCircuitMissed();
      startLocal();
      return;
    }
    ByteBuffer data = span.data();
    int spanLength = data.limit();
    data.position((int) (position - span.start()));
    data.limit((int) (Math.min(end, span.start() + spanLength) - span.start()));
    chunkLength = data.remaining();
    if (wholeCrc != null) {
      // A whole-entry read takes whole spans; anything else is checksummed here, once.
      if (chunkLength == spanLength) {
        chunkCrc = span.crc32c();
      } else {
        CRC32C crc = new CRC32C();
        crc.update(data.duplicate());
        chunkCrc = (int) crc.getValue();
      }
    }
    chunk = data;
  }

  private void closeDirect() {
    ShortCircuitRead d = direct;
    direct = null;
    if (d != null) d.close();
  }

  // ---- local phase ---------------------------------------------------------------------------

  /** Streams from the agent, from where a short circuit stopped if it ran, else the range asked. */
  private void startLocal() {
    phase = Phase.LOCAL;
    chunk = null;
    LocalCall c = new LocalCall();
    call = c;
    ReadRequest.Builder request =
        ReadRequest.newBuilder()
            .setKey(plan.key())
            .setOffset(position)
            .setMaxChunkSize(plan.maxChunkSize());
    if (end != null) request.setLength(end - position);
    else if (plan.length() != null) request.setLength(plan.length());
    plan.stub().read(request.build(), c);
  }

  private void nextLocalMessage() throws IOException {
    long timeoutMs = header == null ? plan.firstMessageTimeoutMs() : plan.idleTimeoutMs();
    Object event;
    try {
      event = call.events.poll(timeoutMs, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw fail(new InterruptedIOException("read of \"" + plan.key() + "\" interrupted"));
    }
    if (event == null) {
      if (header == null) {
        localFailed(
            FallbackReason.FIRST_MESSAGE_TIMEOUT,
            "no header from the agent within " + timeoutMs + " ms");
      } else {
        localFailed(FallbackReason.IDLE_TIMEOUT, "no message from the agent for " + timeoutMs + " ms");
      }
    } else if (event instanceof ReadResponse message) {
      call.requestStream.request(1);
      switch (message.getKindCase()) {
        case HEADER -> onHeader(message.getHeader());
        case CHUNK -> onChunk(message.getChunk());
        default -> localFailed(
            FallbackReason.PROTOCOL_ERROR, "message with neither header nor chunk");
      }
    } else {
      Status status = ((CallEnded) event).status();
      if (status.isOk()) onLocalEnd();
      else onLocalError(status);
    }
  }

  private void onHeader(ReadHeader h) throws IOException {
    if (header != null) {
      localFailed(FallbackReason.PROTOCOL_ERROR, "second header");
      return;
    }
    // The range asked of the agent: the read's, or the rest of it after a short circuit.
    long offset = position;
    Long length = end != null ? Long.valueOf(end - position) : plan.length();
    EntryInfo entry = h.hasEntry() ? h.getEntry() : null;
    String problem = null;
    if (h.getOffset() != offset) {
      problem = "header offset " + h.getOffset() + ", asked for " + offset;
    } else if (length != null && h.getLength() != length) {
      problem = "header length " + h.getLength() + ", asked for " + length;
    } else if (entry != null && h.getOffset() + h.getLength() > entry.getSize()) {
      problem =
          "header range " + h.getOffset() + "+" + h.getLength() + " exceeds entry size "
              + entry.getSize();
    } else if (entry != null && length == null && h.getOffset() + h.getLength() != entry.getSize()) {
      problem =
          "header range " + h.getOffset() + "+" + h.getLength() + " stops before the end ("
              + entry.getSize() + ")";
    }
    EntryInfo leased = this.entry;
    if (problem == null
        && leased != null
        && (entry == null
            || entry.getSize() != leased.getSize()
            || entry.getCrc32C() != leased.getCrc32C())) {
      problem = "the entry changed between the lease and the stream";
    }
    if (problem != null) {
      localFailed(FallbackReason.BAD_HEADER, problem);
      return;
    }
    if (plan.expected() != null) {
      String stale =
          entry == null ? "the agent did not describe its copy" : plan.expected().staleness(entry);
      if (stale != null) {
        localFailed(FallbackReason.STALE_ENTRY, stale);
        return;
      }
    }
    header = h;
    if (leased == null) this.entry = entry;
    end = offset + h.getLength();
    if (entry != null && offset == 0 && h.getLength() == entry.getSize()) wholeCrc = new CRC32C();
  }

  private void onChunk(io.checkpointcache.v1.Chunk c) throws IOException {
    if (header == null) {
      localFailed(FallbackReason.PROTOCOL_ERROR, "chunk before the header");
      return;
    }
    ByteString data = c.getData();
    if (c.getOffset() != position) {
      localFailed(
          FallbackReason.OFFSET_MISMATCH,
          "chunk at offset " + c.getOffset() + ", expected " + position);
      return;
    }
    ByteBuffer bytes = data.asReadOnlyByteBuffer();
    CRC32C crc = new CRC32C();
    crc.update(bytes.duplicate());
    int actual = (int) crc.getValue();
    if (!c.hasCrc32C() || c.getCrc32C() != actual) {
      localFailed(
          FallbackReason.CHECKSUM_MISMATCH,
          "chunk at offset " + c.getOffset() + " (" + data.size() + " bytes) has CRC32C "
              + hex(actual) + ", agent sent " + (c.hasCrc32C() ? hex(c.getCrc32C()) : "none"));
      return;
    }
    if (c.getOffset() + data.size() > end) {
      localFailed(FallbackReason.PROTOCOL_ERROR, "chunk at offset " + c.getOffset() + " runs past " + end);
      return;
    }
    chunk = bytes;
  }

  private void onLocalEnd() throws IOException {
    if (header == null) {
      localFailed(FallbackReason.PROTOCOL_ERROR, "stream ended without a header");
    } else if (position < end) {
      localFailed(
          FallbackReason.ENDED_EARLY,
          "stream ended at offset " + position + ", header promised up to " + end);
    } else {
      call = null;
      finish();
    }
  }

  private void onLocalError(Status status) throws IOException {
    CheckpointCacheException error =
        CheckpointCacheException.fromGrpc(status.asRuntimeException(), "Read", plan.key());
    if (status.getCode() == Status.Code.INVALID_ARGUMENT
        && plan.expected() != null
        && plan.expected().covers(plan.offset(), plan.length())) {
      // Not the caller's mistake: the remote file has this range, so the agent's copy is shorter.
      localFailed(FallbackReason.STALE_ENTRY, error);
      return;
    }
    Optional<FallbackReason> reason = FallbackReason.ofStatus(status.getCode());
    if (reason.isEmpty()) throw fail(error);
    localFailed(reason.get(), error);
  }

  private void localFailed(FallbackReason reason, String details) throws IOException {
    localFailed(
        reason,
        new CheckpointCacheException(reason.status(), details, "Read", plan.key(), null));
  }

  /** The agent failed: continue from the remote store, or fail the read when there is none. */
  private void localFailed(FallbackReason reason, CheckpointCacheException error)
      throws IOException {
    closeDirect();
    abandonCall();
    chunk = null;
    if (end != null && position == end) {
      // Every byte already arrived verified; only the stream's end went wrong.
      finish();
      return;
    }
    if (plan.remoteStore() == null) throw fail(error);
    fallback = new FallbackEvent(reason, position, error);
    plan.stats().fellBack(reason);
    if (reason == FallbackReason.UNAVAILABLE) plan.channel().resetConnectBackoff();
    openRemote();
  }

  private void abandonCall() {
    LocalCall c = call;
    if (c == null) return;
    call = null;
    c.cancel();
  }

  // ---- remote phase --------------------------------------------------------------------------

  private void openRemote() throws IOException {
    Long length = end == null ? null : end - position;
    try {
      remoteStream = plan.remoteStore().open(plan.remoteUri(), position, length);
    } catch (IOException e) {
      throw fail(remoteError(e));
    }
    phase = Phase.REMOTE;
  }

  private IOException remoteError(IOException e) {
    if (e instanceof InterruptedIOException) return e;
    String reason = fallback != null ? fallback.reason().name() : "remote only";
    String text =
        "reading " + RemoteStoreException.redact(plan.remoteUri()) + " from offset " + position
            + " after the cache failed (" + reason + "): " + e.getMessage();
    RemoteStoreException.Code code =
        e instanceof RemoteStoreException r ? r.code() : RemoteStoreException.Code.IO;
    return new RemoteStoreException(code, text, e);
  }

  private void closeRemote() {
    InputStream s = remoteStream;
    remoteStream = null;
    if (s == null) return;
    try {
      s.close();
    } catch (IOException ignored) {
      // Nothing more is read from it; the read's outcome is already decided.
    }
  }

  // ---- both ----------------------------------------------------------------------------------

  private void delivered(byte[] b, int off, int n, boolean fromCacheSource) {
    delivered(b, off, n, fromCacheSource, true);
  }

  /** {@code checksum} false: the bytes' CRC32C is already known (see directCrc). */
  private void delivered(byte[] b, int off, int n, boolean fromCacheSource, boolean checksum) {
    position += n;
    if (fromCacheSource) {
      fromCache += n;
      plan.stats().deliveredFromCache(n);
    } else {
      fromRemote += n;
      plan.stats().deliveredFromRemote(n);
    }
    if (wholeCrc != null && checksum) wholeCrc.update(b, off, n);
  }

  private void finish() throws IOException {
    closeRemote();
    if (end != null && position != end) {
      throw fail(
          new RemoteStoreException(
              RemoteStoreException.Code.LENGTH_MISMATCH,
              "read of \"" + plan.key() + "\" ended at offset " + position + ", expected " + end));
    }
    checkWhole();
    phase = Phase.ENDED;
  }

  private boolean atEnd() {
    return end != null && position == end;
  }

  /**
   * A whole-entry read's last byte was just delivered: the CRC32C of everything delivered must be
   * the entry's. Checked before the read that delivers the last byte returns, because a caller
   * that knows the length (Flink does) stops there and never asks for the end of the stream.
   */
  private void checkWhole() throws IOException {
    if (wholeCrc == null || wholeChecked) return;
    wholeChecked = true;
    int observed = (int) wholeCrc.getValue();
    if (directCrcLength > 0) {
      // Short-circuited bytes came first; wholeCrc holds only the streamed ones after them.
      long streamed = position - plan.offset() - directCrcLength;
      observed = Crc32cCombine.combine(directCrc, observed, streamed);
    }
    int expected = entry.getCrc32C();
    if (observed != expected) wholeMismatch(observed, expected);
  }

  /**
   * Every chunk verified, yet the whole entry's CRC32C is not the header's: the cached copy (or
   * its description) is wrong in a way chunk checks cannot see. The bytes are already the
   * caller's, so falling back at the next byte is no longer possible; the only answer that never
   * hands out inconsistent data is to read the whole range again from the remote store and
   * compare: the same CRC32C means the caller has the remote's bytes and the read ends normally;
   * another one fails the read with DATA_LOSS. The agent is told either way (best effort).
   */
  private void wholeMismatch(int observed, int expected) throws IOException {
    closeDirect();
    abandonCall();
    chunk = null;
    WholeEntryCheck.reportCorrupt(plan, expected, observed);
    plan.stats().fellBack(FallbackReason.WHOLE_CHECKSUM_MISMATCH);
    String mismatch =
        "whole-entry CRC32C " + hex(observed) + " of the " + (position - plan.offset())
            + " bytes received differs from the entry's " + hex(expected)
            + ", although every chunk verified";
    CheckpointCacheException error =
        new CheckpointCacheException(Status.Code.DATA_LOSS, mismatch, "Read", plan.key(), null);
    if (fallback == null) {
      fallback = new FallbackEvent(FallbackReason.WHOLE_CHECKSUM_MISMATCH, position, error);
    }
    if (fromCache == 0) {
      // Every byte came from one pass over the remote store: the caller has its bytes, and only
      // the cached copy disagrees with them.
      closeRemote();
      phase = Phase.ENDED;
      return;
    }
    if (plan.remoteStore() == null) {
      throw fail(
          new CheckpointCacheException(
              Status.Code.DATA_LOSS,
              mismatch + "; the bytes returned cannot be trusted and there is no remote store to"
                  + " check them against (the entry was reported to the agent)",
              "Read",
              plan.key(),
              null));
    }
    closeRemote();
    int remote;
    try {
      remote = WholeEntryCheck.remoteCrc(plan, end - plan.offset(), observed);
    } catch (IOException e) {
      throw fail(e);
    }
    if (remote == observed) {
      phase = Phase.ENDED;
      return;
    }
    String cause =
        remote == expected
            ? "the cached copy was wrong"
            : "the remote file holds yet other bytes (changed while it was read?)";
    throw fail(
        new CheckpointCacheException(
            Status.Code.DATA_LOSS,
            mismatch + "; the remote store's copy, re-read to check, has " + hex(remote) + ": "
                + cause + ". The bytes already returned are not the remote's: discard them and"
                + " read again (the entry was reported to the agent)",
            "Read",
            plan.key(),
            null));
  }

  private IOException fail(IOException e) {
    if (phase != Phase.FAILED && phase != Phase.CLOSED) plan.stats().readFailed();
    phase = Phase.FAILED;
    failure = e;
    closeDirect();
    abandonCall();
    closeRemote();
    return e;
  }

  static String hex(int crc) {
    return String.format("0x%08x", crc);
  }

  /** The terminal event of the agent's call; OK or an error status. */
  private record CallEnded(Status status) {}

  /**
   * The call to the agent. grpc-java delivers its messages on its executor; they wait in a queue
   * bounded by flow control (PREFETCH messages requested ahead, plus the terminal event).
   */
  private static final class LocalCall implements ClientResponseObserver<ReadRequest, ReadResponse> {
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
