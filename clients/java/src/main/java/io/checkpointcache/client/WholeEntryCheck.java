package io.checkpointcache.client;

import io.checkpointcache.client.remote.RemoteStoreException;
import io.checkpointcache.v1.ReportCorruptRequest;
import io.checkpointcache.v1.ReportCorruptResponse;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32C;

/**
 * What a read does when its whole-entry CRC32C disagrees with the entry's (see
 * {@link CheckpointReadStream}): tell the agent, and re-read the range from the remote store to
 * compare. Owns: those two calls. Never: deciding the read's outcome, or holding delivered bytes
 * (only their CRC32C is compared).
 */
final class WholeEntryCheck {
  private static final int BUFFER = 64 * 1024;

  private WholeEntryCheck() {}

  /**
   * Tells the agent its copy is inconsistent, so the next reader is kept away from it. Fire and
   * forget: the read's outcome never waits for or depends on the answer.
   */
  static void reportCorrupt(CheckpointReadStream.Plan plan, int entryCrc, int observedCrc) {
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
  static int remoteCrc(CheckpointReadStream.Plan plan, long length, int observed)
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
