package io.checkpointcache.client;

import io.checkpointcache.client.remote.RemoteStoreException;
import io.checkpointcache.v1.EntryInfo;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * One read of an entry: reads the leased file directly when the short circuit is on
 * ({@link ShortCircuitRead}), else (or from where that stopped) streams it from the node agent
 * ({@link AgentStreamRead}) and, when the agent fails in any way {@link FallbackReason} names,
 * continues from the remote store ({@link RemoteRead}) at exactly the next undelivered byte, so
 * the caller sees every byte once whichever source it came from.
 *
 * <p>Owns: the read's position and end, its phases (changed only by {@link #enter}) and the
 * decisions between them, the bytes handed out and their counters. What needs none of that state
 * lives in the phase classes, the header and chunk checks ({@link ReadChecks}) and the whole-entry
 * check ({@link WholeEntryCheck}). Never: buffering more than a couple of chunks, or retrying the
 * agent after it failed once (a second failure mode would only delay the remote read). Not
 * thread-safe, like any InputStream. Over 400 lines: every phase moves the same position, end,
 * chunk and whole-entry check, which a further split would have to pass back and forth.
 */
public final class CheckpointReadStream extends InputStream {
  /** DIRECT: reading the leased file (same-node short circuit); LOCAL: the agent's stream. */
  private enum Phase {
    IDLE, DIRECT, LOCAL, REMOTE, ENDED, FAILED, CLOSED
  }

  private final ReadPlan plan;
  private Phase phase = Phase.IDLE;
  /** The source of each phase; set only while in it. */
  private ShortCircuitRead direct;
  private AgentStreamRead agent;
  private RemoteRead remote;
  /** Absolute offset of the next byte the caller gets. */
  private long position;
  /** Absolute end (exclusive) once known: from the requested length, the lease or the header. */
  private Long end;
  /** The entry as the lease or the agent's header described it. */
  private EntryInfo entry;
  /** Set while a read covering the whole entry has not reached its verdict; checked once. */
  private WholeEntryCheck whole;
  /** The verified chunk being handed out; its position is the next byte to deliver. */
  private ByteBuffer chunk;
  private long fromCache;
  private long fromRemote;
  private FallbackEvent fallback;
  private IOException failure;

  CheckpointReadStream(ReadPlan plan) {
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
        case DIRECT, LOCAL -> {
          if (chunk != null && chunk.hasRemaining()) {
            int n = Math.min(len, chunk.remaining());
            chunk.get(b, off, n);
            // Short-circuited bytes' CRC32C is known from their blocks (added in nextSpan).
            delivered(b, off, n, true, phase == Phase.LOCAL);
            if (phase == Phase.DIRECT) plan.stats().shortCircuited(n);
            if (atEnd()) {
              closeDirect();
              checkWhole();
            }
            return n;
          }
          chunk = null;
          if (phase == Phase.DIRECT) {
            int n = readDirect(b, off, len);
            if (n > 0) return n;
            if (phase == Phase.DIRECT) nextSpan();
          } else {
            nextAgentStep();
          }
        }
        case REMOTE -> {
          int want = end == null ? len : (int) Math.min(len, end - position);
          int n;
          try {
            n = want == 0 ? -1 : remote.read(b, off, want);
          } catch (IOException e) {
            throw fail(e);
          }
          if (n == -1) {
            finish();
            continue;
          }
          delivered(b, off, n, false, true);
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
      case REMOTE -> remote.available();
      default -> 0;
    };
  }

  /** Ends the read; the call to the agent is cancelled and the remote stream closed. */
  @Override
  public void close() {
    enter(Phase.CLOSED);
  }

  /**
   * The one phase transition: releases the sources of the phases the read leaves (a short circuit
   * ends when the agent streams, the agent's call when the remote store serves, everything at the
   * end) and drops a chunk the new phase does not hand out.
   */
  private void enter(Phase next) {
    if (next != Phase.DIRECT) closeDirect();
    if (next != Phase.LOCAL) abandonCall();
    if (next != Phase.REMOTE) closeRemote();
    if (next != phase) chunk = null;
    phase = next;
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
    enter(Phase.DIRECT);
    ShortCircuitRead opened;
    try {
      opened = ShortCircuitRead.open(plan.shortCircuit(), plan.key(), plan.offset(), plan.length());
    } catch (StatusRuntimeException e) {
      plan.stats().shortCircuitMissed();
      Optional<FallbackReason> reason = FallbackReason.ofLeaseStatus(e.getStatus().getCode());
      if (reason.isEmpty()) startLocal();
      else localFailed(reason.get(), CheckpointCacheException.fromGrpc(e, "Lease", plan.key()));
      return;
    } catch (ShortCircuitRead.Miss e) {
      // No file to read here (not mounted, removed, shorter than the lease says): the agent's
      // stream answers.
      plan.stats().shortCircuitMissed();
      startLocal();
      return;
    }
    direct = opened;
    EntryInfo leased = opened.entry();
    if (plan.expected() != null) {
      String stale = plan.expected().staleness(leased);
      if (stale != null) {
        plan.stats().shortCircuitMissed();
        FallbackReason reason = FallbackReason.STALE_ENTRY;
        localFailed(reason, reason.error(stale, plan.key()));
        return;
      }
    }
    entry = leased;
    end = opened.end();
    if (plan.offset() == 0 && end == leased.getSize()) whole = new WholeEntryCheck();
    if (position == end) finish();
  }

  /** The next verified span; any failure of the file goes on by streaming from the agent. */
  private void nextSpan() throws IOException {
    if (position == end) {
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
      plan.stats().shortCircuitMissed();
      startLocal();
      return;
    }
    ByteBuffer data = span.data();
    int spanLength = data.limit();
    data.position((int) (position - span.start()));
    data.limit((int) (Math.min(end, span.start() + spanLength) - span.start()));
    // Every byte of the chunk is handed out before the verdict (it comes at the range's end).
    if (whole != null) whole.addShortCircuited(data, span.crc32c(), spanLength);
    chunk = data;
  }

  /**
   * Whole blocks read straight into the caller's array and verified there; 0 when none fits (the
   * read then takes a span), or when the file failed and the agent's stream took over.
   */
  private int readDirect(byte[] b, int off, int len) throws IOException {
    if (position == end) return 0;
    int n;
    try {
      n = direct.readInto(position, b, off, len);
    } catch (InterruptedIOException e) {
      throw fail(e);
    } catch (IOException e) {
      plan.stats().shortCircuitMissed(); // as in nextSpan: the agent's stream decides
      startLocal();
      return 0;
    }
    if (n == 0) return 0;
    if (whole != null) whole.addShortCircuited(direct.lastReadCrc32c(), n);
    delivered(b, off, n, true, false);
    plan.stats().shortCircuited(n);
    if (atEnd()) {
      closeDirect();
      checkWhole();
    }
    return n;
  }

  private void closeDirect() {
    ShortCircuitRead d = direct;
    direct = null;
    if (d != null) d.close();
  }

  // ---- local phase (the agent's stream) ------------------------------------------------------

  /** Streams from the agent, from where a short circuit stopped if it ran, else the range asked. */
  private void startLocal() {
    enter(Phase.LOCAL);
    agent = new AgentStreamRead(plan, position, end == null ? null : end - position, entry);
  }

  private void nextAgentStep() throws IOException {
    AgentStreamRead.Step step;
    try {
      step = agent.next(position);
    } catch (IOException e) {
      throw fail(e);
    }
    if (step instanceof AgentStreamRead.Header h) {
      if (entry == null) entry = h.entry();
      end = h.end();
      if (h.entry() != null && position == 0 && end == h.entry().getSize()) {
        whole = new WholeEntryCheck();
      }
    } else if (step instanceof AgentStreamRead.Data d) {
      chunk = d.bytes();
    } else if (step instanceof AgentStreamRead.Failed f) {
      localFailed(f.reason(), f.error());
    } else {
      agent = null;
      finish();
    }
  }

  /** The agent failed: continue from the remote store, or fail the read when there is none. */
  private void localFailed(FallbackReason reason, CheckpointCacheException error)
      throws IOException {
    closeDirect();
    abandonCall();
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
    AgentStreamRead c = agent;
    agent = null;
    if (c != null) c.cancel();
  }

  // ---- remote phase --------------------------------------------------------------------------

  private void openRemote() throws IOException {
    String after = fallback != null ? fallback.reason().name() : "remote only";
    RemoteRead opened;
    try {
      opened = RemoteRead.open(plan, position, end == null ? null : end - position, after);
    } catch (IOException e) {
      throw fail(e);
    }
    enter(Phase.REMOTE);
    remote = opened;
  }

  private void closeRemote() {
    RemoteRead r = remote;
    remote = null;
    if (r != null) r.close();
  }

  // ---- every phase ---------------------------------------------------------------------------

  /** {@code checksum} false: the bytes' CRC32C is already in the whole-entry check. */
  private void delivered(byte[] b, int off, int n, boolean fromCacheSource, boolean checksum) {
    position += n;
    if (fromCacheSource) {
      fromCache += n;
      plan.stats().deliveredFromCache(n);
    } else {
      fromRemote += n;
      plan.stats().deliveredFromRemote(n);
    }
    if (whole != null && checksum) whole.update(b, off, n);
  }

  private void finish() throws IOException {
    if (end != null && position != end) {
      throw fail(
          new RemoteStoreException(
              RemoteStoreException.Code.LENGTH_MISMATCH,
              "read of \"" + plan.key() + "\" ended at offset " + position + ", expected " + end));
    }
    checkWhole();
    enter(Phase.ENDED);
  }

  private boolean atEnd() {
    return end != null && position == end;
  }

  /**
   * A whole-entry read's last byte was just delivered: the CRC32C of everything delivered must be
   * the entry's. Checked before the read that delivers the last byte returns, because a caller
   * that knows the length (Flink does) stops there and never asks for the end of the stream. A
   * mismatch ends the read, or fails it, as {@link WholeEntryCheck#settle} decides.
   */
  private void checkWhole() throws IOException {
    WholeEntryCheck check = whole;
    whole = null;
    if (check == null) return;
    long delivered = position - plan.offset();
    int observed = check.observed(delivered);
    int expected = entry.getCrc32C();
    if (observed == expected) return;
    String mismatch = WholeEntryCheck.describe(observed, expected, delivered);
    FallbackReason reason = FallbackReason.WHOLE_CHECKSUM_MISMATCH;
    if (fallback == null) {
      fallback = new FallbackEvent(reason, position, reason.error(mismatch, key()));
    }
    enter(Phase.ENDED);
    try {
      WholeEntryCheck.settle(plan, observed, expected, delivered, fromCache == 0, mismatch);
    } catch (IOException e) {
      throw fail(e);
    }
  }

  private IOException fail(IOException e) {
    if (phase != Phase.FAILED && phase != Phase.CLOSED) plan.stats().readFailed();
    enter(Phase.FAILED);
    failure = e;
    return e;
  }

  static String hex(int crc) {
    return String.format("0x%08x", crc);
  }
}
