package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.v1.ReportCorruptRequest;
import io.grpc.Status;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reads whose chunks all verify but whose whole-entry CRC32C is not the header's. The real agent
 * refuses to serve such entries, so a {@link ScriptedAgent} serves them; the last test checks
 * ReportCorrupt against the real agent.
 */
class WholeEntryChecksumTest {
  private static final int SIZE = 300_001;

  @TempDir Path tmp;
  private ScriptedAgent scripted;
  private CheckpointCacheClient client;
  private final String key = "whole-crc/" + UUID.randomUUID();
  private final byte[] data = TestBytes.generate(SIZE, 301);

  @BeforeEach
  void start() throws Exception {
    scripted = ScriptedAgent.start();
    client = CheckpointCacheClient.connect(scripted.address());
  }

  @AfterEach
  void stop() throws Exception {
    client.close();
    scripted.close();
  }

  private static byte[] flipped(byte[] data, int at) {
    byte[] copy = data.clone();
    copy[at] ^= 0x01;
    return copy;
  }

  @Test
  void wrongCachedBytesFailTheReadThatReturnsTheLastByteAndAreReported() throws Exception {
    byte[] cached = flipped(data, 1234);
    scripted.put(key, cached, TestBytes.crc32c(data));
    URI remote = TestBytes.remoteCopy(tmp, "whole-wrong-bytes", data);
    try (CheckpointReadStream in = client.open(key, remote)) {
      // Exactly the entry's length, as Flink reads: the verdict must not wait for end-of-stream.
      CheckpointCacheException e =
          assertThrows(CheckpointCacheException.class, () -> in.readNBytes(SIZE));
      assertEquals(Status.Code.DATA_LOSS, e.code());
      assertTrue(e.details().contains("the cached copy was wrong"), e.getMessage());
      assertTrue(e.details().contains("discard them"), e.getMessage());
      assertEquals(FallbackReason.WHOLE_CHECKSUM_MISMATCH, in.fallback().orElseThrow().reason());
      assertThrows(CheckpointCacheException.class, in::read, "a failed read stays failed");
    }
    assertReported(TestBytes.crc32c(data), TestBytes.crc32c(cached));
    assertEquals(1, client.stats().failedReads());
    assertEquals(Map.of(FallbackReason.WHOLE_CHECKSUM_MISMATCH, 1L), client.stats().fallbacks());
  }

  @Test
  void aWrongEntryChecksumOverTheRemotesBytesEndsNormallyAfterTheRemoteCheck() throws Exception {
    scripted.put(key, data, TestBytes.crc32c(data) ^ 0x5a5a);
    URI remote = TestBytes.remoteCopy(tmp, "whole-wrong-crc", data);
    try (CheckpointReadStream in = client.open(key, remote)) {
      assertArrayEquals(data, in.readAllBytes());
      assertEquals(-1, in.read());
      assertEquals(SIZE, in.bytesFromCache());
      assertEquals(0, in.bytesFromRemote(), "the check's re-read is not delivered");
      assertEquals(FallbackReason.WHOLE_CHECKSUM_MISMATCH, in.fallback().orElseThrow().reason());
    }
    assertReported(TestBytes.crc32c(data) ^ 0x5a5a, TestBytes.crc32c(data));
    assertEquals(0, client.stats().failedReads());
  }

  @Test
  void aReadThatAlreadyFellBackIsCheckedOverTheWholeRangeToo() throws Exception {
    // The agent serves right bytes under a wrong CRC32C, then fails: cache prefix, remote rest.
    scripted.failReadsAfter(100_000);
    scripted.put(key, data, TestBytes.crc32c(data) ^ 1);
    URI remote = TestBytes.remoteCopy(tmp, "whole-mixed-right", data);
    try (CheckpointReadStream in = client.open(key, remote)) {
      assertArrayEquals(data, in.readAllBytes());
      assertTrue(in.bytesFromCache() > 0 && in.bytesFromRemote() > 0, "a mixed read");
      assertEquals(FallbackReason.DATA_LOSS, in.fallback().orElseThrow().reason());
    }
    assertReported(TestBytes.crc32c(data) ^ 1, TestBytes.crc32c(data));
    assertEquals(
        Map.of(FallbackReason.DATA_LOSS, 1L, FallbackReason.WHOLE_CHECKSUM_MISMATCH, 1L),
        client.stats().fallbacks());

    // A wrong byte in the cached prefix: the delivered mix is neither the entry nor the remote.
    String other = key + "/wrong-prefix";
    scripted.put(other, flipped(data, 10), TestBytes.crc32c(data));
    try (CheckpointReadStream in = client.open(other, remote)) {
      CheckpointCacheException e =
          assertThrows(CheckpointCacheException.class, () -> in.readNBytes(SIZE));
      assertEquals(Status.Code.DATA_LOSS, e.code());
      assertTrue(e.details().contains("the cached copy was wrong"), e.getMessage());
    }
  }

  @Test
  void withoutARemoteStoreTheMismatchIsDataLossAndStillReported() throws Exception {
    byte[] cached = flipped(data, SIZE - 1);
    scripted.put(key, cached, TestBytes.crc32c(data));
    try (CheckpointReadStream in = client.open(key, null)) {
      CheckpointCacheException e =
          assertThrows(CheckpointCacheException.class, () -> TestBytes.readAll(in, 4096));
      assertEquals(Status.Code.DATA_LOSS, e.code());
      assertTrue(e.details().contains("no remote store"), e.getMessage());
    }
    assertReported(TestBytes.crc32c(data), TestBytes.crc32c(cached));
  }

  @Test
  void anAgentThatNeverAnswersTheReportDoesNotDelayTheRead() throws Exception {
    scripted.answerReports(false);
    scripted.put(key, data, ~TestBytes.crc32c(data));
    URI remote = TestBytes.remoteCopy(tmp, "whole-hung-report", data);
    long started = System.nanoTime();
    try (CheckpointReadStream in = client.open(key, remote)) {
      assertArrayEquals(data, in.readAllBytes());
    }
    long ms = (System.nanoTime() - started) / 1_000_000;
    assertTrue(ms < 5_000, "the read waited " + ms + " ms (the unary timeout is 10 s)");
    assertEquals(1, scripted.awaitReports(1, 5_000).size());
  }

  @Test
  void aSeekableStreamGoesToTheRemoteAfterAWholeEntryMismatch() throws Exception {
    scripted.quarantineOnReport(false);
    byte[] cached = flipped(data, 10);
    scripted.put(key, cached, TestBytes.crc32c(data));
    URI remote = TestBytes.remoteCopy(tmp, "whole-seekable", data);
    try (SeekableCachedStream in = client.openSeekable(key, remote)) {
      assertThrows(CheckpointCacheException.class, () -> in.readNBytes(SIZE));
      in.seek(0);
      assertArrayEquals(data, in.readAllBytes(), "the agent, shown wrong, is not asked again");
      assertEquals(SIZE, in.bytesFromRemote());
    }
    assertTrue(scripted.holds(key), "this agent kept its copy; the stream still avoided it");
  }

  @Test
  void theRealAgentQuarantinesAnEntryReportedOverItsTrustedSocket() throws Exception {
    TestAgent agent = TestAgent.start(tmp);
    try (CheckpointCacheClient real = CheckpointCacheClient.connect(agent.unixAddress())) {
      String k = "whole-crc-real/" + UUID.randomUUID();
      int crc = real.put(k, data, PutOptions.DEFAULT).entry().getCrc32C();
      assertFalse(real.reportCorrupt(k, crc ^ 1, crc), "another entry's CRC: nothing is done");
      real.stat(k, true);
      assertTrue(real.reportCorrupt(k, crc, crc ^ 1));
      CheckpointCacheException gone =
          assertThrows(CheckpointCacheException.class, () -> real.stat(k, true));
      assertEquals(Status.Code.NOT_FOUND, gone.code());
    } finally {
      agent.stop();
    }
  }

  private void assertReported(int entryCrc, int observedCrc) throws InterruptedException {
    List<ReportCorruptRequest> reports = scripted.awaitReports(1, 5_000);
    assertEquals(1, reports.size(), "one ReportCorrupt: " + reports);
    assertEquals(key, reports.get(0).getKey());
    assertEquals(
        CheckpointReadStream.hex(entryCrc), CheckpointReadStream.hex(reports.get(0).getEntryCrc32C()));
    assertEquals(
        CheckpointReadStream.hex(observedCrc),
        CheckpointReadStream.hex(reports.get(0).getObservedCrc32C()));
  }
}
