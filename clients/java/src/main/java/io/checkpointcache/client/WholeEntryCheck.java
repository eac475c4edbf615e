package io.checkpointcache.client;

import io.checkpointcache.client.remote.RemoteStoreException;
import io.checkpointcache.v1.ReportCorruptRequest;
import io.checkpointcache.v1.ReportCorruptResponse;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * The whole-entry check of a read that covers a whole entry (see {@link CheckpointReadStream}):
 * the CRC32C of everything delivered, and, when it disagrees with the entry's, the verdict: tell
 * the agent, and re-read the range from the remote store to compare.
 *
 * <p>Owns: that CRC32C, the report and the re-read. Never: holding delivered bytes (only their
 * CRC32C is compared), or the read's phases ({@link CheckpointReadStream} ends or fails the read
 * with the verdict given here).
 */
final class WholeEntryCheck {
  private static final int BUFFER = 64 * 1024;

  /** CRC32C of the streamed bytes delivered (from the agent or the remote store). */
  private final CRC32C streamed = new CRC32C();
  /** CRC32C of the short-circuited bytes delivered, all before any streamed one, and how many. */
  private int shortCircuited;
  private long shortCircuitedLength;

  /** Streamed bytes just delivered, in order. */
  void update(byte[] b, int off, int n) {
    streamed.update(b, off, n);
  }

  /**
   * Short-circuited bytes about to be handed out ({@code chunk}'s remaining bytes, all of them
   * before the verdict), from a span of {@code spanLength} bytes whose CRC32C {@code spanCrc} is
   * known from its blocks': a whole-entry read takes whole spans, so no second pass over them.
   * They all come before any streamed byte: the short circuit runs first.
   */
  void addShortCircuited(ByteBuffer chunk, int spanCrc, int spanLength) {
    int crc = spanCrc;
    if (chunk.remaining() != spanLength) {
      CRC32C partial = new CRC32C();
      partial.update(chunk.duplicate());
      crc = (int) partial.getValue();
    }
    shortCircuited = Crc32cCombine.combine(shortCircuited, crc, chunk.remaining());
    shortCircuitedLength += chunk.remaining();
  }

  /** Short-circuited bytes handed out whose CRC32C {@code crc} is known from their blocks'. */
  void addShortCircuited(int crc, int length) {
    shortCircuited = Crc32cCombine.combine(shortCircuited, crc, length);
    shortCircuitedLength += length;
  }

  /** CRC32C of all {@code delivered} bytes: the short-circuited ones, then the streamed ones. */
  int observed(long delivered) {
    int observed = (int) streamed.getValue();
    if (shortCircuitedLength == 0) return observed;
    return Crc32cCombine.combine(shortCircuited, observed, delivered - shortCircuitedLength);
  }

  /** What the mismatch is, for the fallback event and the read's failure. */
  static String describe(int observed, int expected, long delivered) {
    return "whole-entry CRC32C " + CheckpointReadStream.hex(observed) + " of the " + delivered
        + " bytes received differs from the entry's " + CheckpointReadStream.hex(expected)
        + ", although every chunk verified";
  }

  /**
   * Every chunk verified, yet the whole entry's CRC32C is not the entry's: the cached copy (or its
   * description) is wrong in a way chunk checks cannot see. The bytes are already the caller's,
   * so falling back at the next byte is no longer possible; the only answer that never hands out
   * inconsistent data is to read the whole range ({@code length} bytes) again from the remote
   * store and compare. Returns normally when the caller has the remote's bytes: every byte came
   * from one pass over the remote store ({@code allFromRemote}), or the re-read has the same
   * CRC32C. Throws {@code DATA_LOSS} otherwise. The agent is told either way (best effort).
   */
  static void settle(
      ReadPlan plan,
      int observed,
      int expected,
      long length,
      boolean allFromRemote,
      String mismatch)
      throws IOException {
    reportCorrupt(plan, expected, observed);
    plan.stats().fellBack(FallbackReason.WHOLE_CHECKSUM_MISMATCH);
    if (allFromRemote) return;
    if (plan.remoteStore() == null) {
      throw new CheckpointCacheException(
          Status.Code.DATA_LOSS,
          mismatch + "; the bytes returned cannot be trusted and there is no remote store to"
              + " check them against (the entry was reported to the agent)",
          "Read",
          plan.key(),
          null);
    }
    int remote = remoteCrc(plan, length, observed);
    if (remote == observed) return;
    String cause =
        remote == expected
            ? "the cached copy was wrong"
            : "the remote file holds yet other bytes (changed while it was read?)";
    throw new CheckpointCacheException(
        Status.Code.DATA_LOSS,
        mismatch + "; the remote store's copy, re-read to check, has "
            + CheckpointReadStream.hex(remote) + ": " + cause + ". The bytes already returned are"
            + " not the remote's: discard them and read again (the entry was reported to the"
            + " agent)",
        "Read",
        plan.key(),
        null);
  }

  /**
   * Tells the agent its copy is inconsistent, so the next reader is kept away from it. Fire and
   * forget: the read's outcome never waits for or depends on the answer.
   */
  private static void reportCorrupt(ReadPlan plan, int entryCrc, int observedCrc) {
    ReportCorruptRequest request =
        ReportCorruptRequest.newBuilder()
            .setKey(plan.key())
            .setEntryCrc32C(entryCrc)
            .setObservedCrc32C(observedCrc)
            .build();
    try {
      plan.stub()
          .withDeadlineAfter(plan.reportTimeoutMs(), TimeUnit.MILLISECONDS)
          .reportCorrupt(request, IGNORED);
    } catch (RuntimeException e) {
      // A channel already shut down: the report is lost, the read goes on.
    }
  }

  /**
   * CRC32C of the read's range ({@code length} bytes from the plan's offset) as the remote store
   * has it now. Failures name the check, since the caller already has every byte.
   */
  private static int remoteCrc(ReadPlan plan, long length, int observed)
      throws IOException {
    CRC32C crc = new CRC32C();
    byte[] buffer = new byte[BUFFER];
    long got = 0;
    String what =
        "re-reading " + RemoteStoreException.redact(plan.remoteUri()) + " to check the " + length
            + " bytes already returned (their CRC32C " + CheckpointReadStream.hex(observed)
            + " is not the entry's)";
    try (InputStream in = plan.remoteStore().open(plan.remoteUri(), plan.offset(), length)) {
      for (int n; (n = in.read(buffer)) != -1; ) {
        crc.update(buffer, 0, n);
        got += n;
      }
    } catch (java.io.InterruptedIOException e) {
      throw e;
    } catch (IOException e) {
      throw new RemoteStoreException(
          e instanceof RemoteStoreException r ? r.code() : RemoteStoreException.Code.IO,
          what + ": " + e.getMessage(),
          e);
    }
    if (got != length) {
      throw new RemoteStoreException(
          RemoteStoreException.Code.LENGTH_MISMATCH, what + ": got " + got + " bytes");
    }
    return (int) crc.getValue();
  }

  /** The answer to a best-effort report: nobody waits for it (an old agent says UNIMPLEMENTED). */
  private static final StreamObserver<ReportCorruptResponse> IGNORED =
      new StreamObserver<>() {
        @Override
        public void onNext(ReportCorruptResponse value) {}

        @Override
        public void onError(Throwable t) {}

        @Override
        public void onCompleted() {}
      };
}
