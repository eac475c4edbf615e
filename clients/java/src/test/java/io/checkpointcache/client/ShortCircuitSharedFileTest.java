package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.v1.LeaseRequest;
import io.grpc.Status;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The short circuit of an entry that shares its file with others (issue #16: the agent packs small
 * entries several to a file): the client leases with accept_offset, reads entry.size bytes from
 * the lease's data_offset and none around them, and streams from the agent when the file is too
 * short or the lease is refused with FAILED_PRECONDITION. The real agent's data_offset is always 0
 * so far, so {@link ScriptedAgent#packLeases} stands in for it.
 */
class ShortCircuitSharedFileTest {
  private static final int MIB = 1024 * 1024;
  private static final int BLOCK = 4 * 1024;
  /** Several 1 MiB spans (so the read ahead runs) and a short last block. */
  private static final int SIZE = 3 * MIB + 5;
  /** Not a multiple of BLOCK: a reader that aligned file offsets to blocks reads other bytes. */
  private static final int BEFORE = 5_000;
  private static final int AFTER = 3_000;

  @TempDir Path tmp;
  private ScriptedAgent scripted;
  private CheckpointCacheClient client;
  private Path cacheDir;
  private final String key = "sc-shared/" + UUID.randomUUID();
  private final byte[] data = TestBytes.generate(SIZE, 403);

  @BeforeEach
  void start() throws Exception {
    scripted = ScriptedAgent.start();
    scripted.put(key, data, TestBytes.crc32c(data));
    cacheDir = Files.createTempDirectory(tmp, "cache-");
    scripted.serveLeases(cacheDir, BLOCK, 60_000);
    scripted.packLeases(BEFORE, AFTER);
    client =
        new CheckpointCacheClient(
            CheckpointCacheClientOptions.builder(scripted.address()).shortCircuit(true).build());
  }

  @AfterEach
  void stop() throws Exception {
    client.close();
    scripted.close();
  }

  /** Everything left in {@code in}, read with {@code read(b, 0, bufferSize)} calls. */
  private static byte[] readAllWith(CheckpointReadStream in, int bufferSize) throws Exception {
    ByteArrayOutputStream all = new ByteArrayOutputStream();
    byte[] buffer = new byte[bufferSize];
    for (int n; (n = in.read(buffer, 0, bufferSize)) != -1; ) all.write(buffer, 0, n);
    return all.toByteArray();
  }

  @Test
  void readsTheEntryFromItsDataOffsetAndNothingAroundIt() throws Exception {
    long bytes = 0;
    // 1 MiB reads: whole blocks straight into the array; 1000-byte reads: verified spans.
    for (int bufferSize : new int[] {MIB, 1000}) {
      try (CheckpointReadStream in = client.open(key, null)) {
        assertArrayEquals(data, readAllWith(in, bufferSize), "whole, " + bufferSize + "-byte reads");
      }
      bytes += SIZE;
    }
    long[][] ranges = {
      {BLOCK - 5, 2 * BLOCK + 10}, // across block boundaries
      {MIB - 100, 3 * BLOCK}, // across spans
      {0, 10}, // the first bytes: none of those before the entry
      {SIZE - 10, -1}, // to the end: none of those after it
    };
    for (long[] r : ranges) {
      long end = r[1] < 0 ? SIZE : r[0] + r[1];
      try (CheckpointReadStream in = client.open(key, null, r[0], r[1] < 0 ? null : r[1])) {
        assertArrayEquals(
            Arrays.copyOfRange(data, (int) r[0], (int) end),
            readAllWith(in, MIB),
            "range " + r[0] + ".." + end);
      }
      bytes += end - r[0];
    }
    try (SeekableCachedStream in = client.openSeekable(key, null)) {
      in.seek(2 * MIB + 3);
      assertArrayEquals(Arrays.copyOfRange(data, 2 * MIB + 3, 2 * MIB + 103), in.readNBytes(100));
      in.seek(SIZE - 7);
      assertArrayEquals(Arrays.copyOfRange(data, SIZE - 7, SIZE), in.readAllBytes());
    }
    ClientStatsSnapshot s = client.stats();
    assertEquals(0, s.shortCircuitMisses(), "every block verified, none read past the entry");
    assertEquals(0, scripted.reads(), "the agent's Read");
    assertEquals(bytes + 107, s.bytesShortCircuit(), "bytes short-circuited");
    assertEquals(s.bytesShortCircuit(), s.bytesFromCache());
    assertEquals(Map.of(), s.fallbacks());
    assertTrue(scripted.leaseRequests().stream().allMatch(LeaseRequest::getAcceptOffset));
    assertTrue(scripted.leaseRequests().size() >= 2 + ranges.length + 1);
  }

  @Test
  void aFileShorterThanDataOffsetPlusSizeStreams() throws Exception {
    // Longer than the entry, one byte short of its end: the file's length is no guide by itself.
    byte[] file = new byte[BEFORE + SIZE - 1];
    System.arraycopy(data, 0, file, BEFORE, SIZE - 1);
    Files.write(cacheDir.resolve(ScriptedAgent.leasedFileName(key)), file);
    try (CheckpointReadStream in = client.open(key, null)) {
      assertArrayEquals(data, in.readAllBytes());
    }
    ClientStatsSnapshot s = client.stats();
    assertEquals(0, s.bytesShortCircuit());
    assertEquals(SIZE, s.bytesFromCache(), "streamed by the agent");
    assertEquals(1, s.shortCircuitMisses());
    assertEquals(Map.of(), s.fallbacks());
    assertEquals(1, scripted.reads());
  }

  @Test
  void aLeaseRefusedWithFailedPreconditionStreamsFromTheAgent() throws Exception {
    scripted.grantLeases(0, Status.Code.FAILED_PRECONDITION);
    URI remote = TestBytes.remoteCopy(tmp, "sc-shared-refused", data);
    try (CheckpointReadStream in = client.open(key, remote)) {
      assertArrayEquals(data, in.readAllBytes());
      assertTrue(in.fallback().isEmpty(), "no fallback to the remote store");
    }
    ClientStatsSnapshot s = client.stats();
    assertEquals(SIZE, s.bytesFromCache(), "streamed by the agent");
    assertEquals(0, s.bytesFromRemote());
    assertEquals(0, s.bytesShortCircuit());
    assertEquals(1, s.shortCircuitMisses());
    assertEquals(0, s.failedReads());
    assertEquals(1, scripted.reads());
  }
}
