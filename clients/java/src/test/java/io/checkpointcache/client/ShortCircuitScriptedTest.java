package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The short circuit against what the real agent cannot be made to do (see {@link ScriptedAgent}):
 * an agent without Lease, leases short enough to need renewing, a renewal refused, and an entry
 * whose blocks verify but whose whole CRC32C is not the lease's.
 */
class ShortCircuitScriptedTest {
  private static final int MIB = 1024 * 1024;
  private static final int SIZE = 3 * MIB + 5;
  private static final int BLOCK = 64 * 1024;

  @TempDir Path tmp;
  private ScriptedAgent scripted;
  private CheckpointCacheClient client;
  private final String key = "sc-scripted/" + UUID.randomUUID();
  private final byte[] data = TestBytes.generate(SIZE, 401);

  @BeforeEach
  void start() throws Exception {
    scripted = ScriptedAgent.start();
    client =
        new CheckpointCacheClient(
            CheckpointCacheClientOptions.builder(scripted.address()).shortCircuit(true).build());
  }

  @AfterEach
  void stop() throws Exception {
    client.close();
    scripted.close();
  }

  @Test
  void anAgentWithoutLeaseStreams() throws Exception {
    scripted.put(key, data, TestBytes.crc32c(data));
    try (CheckpointReadStream in = client.open(key, null)) {
      assertArrayEquals(data, in.readAllBytes());
    }
    ClientStatsSnapshot s = client.stats();
    assertEquals(SIZE, s.bytesFromCache(), "streamed by the agent (UNIMPLEMENTED Lease)");
    assertEquals(0, s.bytesShortCircuit());
    assertEquals(1, s.shortCircuitMisses());
    assertEquals(Map.of(), s.fallbacks());
    assertEquals(1, scripted.reads());
  }

  @Test
  void aLeaseNotFoundAsksTheAgentsReadBeforeTheRemoteStore() throws Exception {
    // NOT_FOUND from Lease says only that this node holds no copy; the agent's Read may still
    // serve the entry from another node's agent (a peer read), so it is asked once.
    scripted.serveLeases(Files.createTempDirectory(tmp, "cache-"), BLOCK, 60_000);
    URI remote = TestBytes.remoteCopy(tmp, "sc-not-cached", data);
    try (CheckpointReadStream in = client.open(key, remote)) {
      assertArrayEquals(data, in.readAllBytes());
      assertEquals(FallbackReason.NOT_FOUND, in.fallback().orElseThrow().reason());
    }
    assertEquals(1, scripted.reads(), "the agent's Read is asked once");
    assertEquals(SIZE, client.stats().bytesFromRemote());
  }

  @Test
  void aLongReadRenewsItsLease() throws Exception {
    scripted.put(key, data, TestBytes.crc32c(data));
    scripted.serveLeases(Files.createTempDirectory(tmp, "cache-"), BLOCK, 400);
    try (CheckpointReadStream in = client.open(key, null)) {
      byte[] got = new byte[SIZE];
      for (int at = 0; at < SIZE; ) {
        at += in.readNBytes(got, at, Math.min(MIB, SIZE - at));
        Thread.sleep(250); // a slow consumer: each span comes after half the lease has passed
      }
      assertEquals(-1, in.read());
      assertArrayEquals(data, got);
    }
    assertTrue(scripted.leases() >= 3, "leases: " + scripted.leases());
    assertEquals(0, scripted.reads());
    assertEquals(SIZE, client.stats().bytesShortCircuit());
  }

  @Test
  void aRefusedRenewalStreamsTheRestFromTheAgent() throws Exception {
    scripted.put(key, data, TestBytes.crc32c(data));
    scripted.serveLeases(Files.createTempDirectory(tmp, "cache-"), BLOCK, 400);
    scripted.grantLeases(1);
    try (CheckpointReadStream in = client.open(key, null)) {
      byte[] first = in.readNBytes(MIB);
      Thread.sleep(250); // past half the lease: the next span renews it, and is refused
      byte[] rest = in.readAllBytes();
      assertArrayEquals(data, concat(first, rest));
      assertEquals(SIZE, in.bytesFromCache());
      assertTrue(in.fallback().isEmpty());
    }
    assertEquals(MIB, client.stats().bytesShortCircuit());
    assertEquals(1, client.stats().shortCircuitMisses());
    assertEquals(1, scripted.reads());
  }

  @Test
  void theWholeEntryCheckCoversShortCircuitedBytes() throws Exception {
    // Every block verifies against the lease; the whole CRC32C the lease claims is another one.
    int claimed = TestBytes.crc32c(data) ^ 0x5a5a;
    scripted.put(key, data, claimed);
    scripted.serveLeases(Files.createTempDirectory(tmp, "cache-"), BLOCK, 60_000);
    URI remote = TestBytes.remoteCopy(tmp, "sc-whole", data);
    try (CheckpointReadStream in = client.open(key, remote)) {
      assertArrayEquals(data, in.readNBytes(SIZE));
      assertEquals(FallbackReason.WHOLE_CHECKSUM_MISMATCH, in.fallback().orElseThrow().reason());
      assertEquals(SIZE, in.bytesFromCache());
    }
    var reports = scripted.awaitReports(1, 5_000);
    assertEquals(1, reports.size());
    assertEquals(claimed, reports.get(0).getEntryCrc32C());
    assertEquals(TestBytes.crc32c(data), reports.get(0).getObservedCrc32C());
    assertEquals(SIZE, client.stats().bytesShortCircuit());
    assertEquals(0, client.stats().failedReads(), "the remote's bytes agree: the read ends well");
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] all = new byte[a.length + b.length];
    System.arraycopy(a, 0, all, 0, a.length);
    System.arraycopy(b, 0, all, a.length, b.length);
    return all;
  }
}
