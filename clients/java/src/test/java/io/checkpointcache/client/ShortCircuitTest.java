package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The same-node short circuit against a real agent: the client leases an entry, reads the agent's
 * file itself and checks every block; anything unusual (a corrupt block, a missing or truncated
 * file, the agent down) still ends with the right bytes, from the agent's stream or the remote
 * store. "The agent's Read was not called" is read off the client's counters: every cache byte
 * short-circuited and no miss.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ShortCircuitTest {
  private static final int MIB = 1024 * 1024;
  /** Spans of several short-circuit reads (1 MiB each) and a short last block. */
  private static final int SIZE = 3 * MIB + 777;

  @TempDir static Path tmp;
  private TestAgent agent;

  @BeforeAll
  void startAgent() throws Exception {
    agent = TestAgent.start(tmp);
  }

  @AfterAll
  void stopAgent() throws Exception {
    if (agent != null) agent.stop();
  }

  private CheckpointCacheClient client(String address, boolean shortCircuit) {
    return new CheckpointCacheClient(
        CheckpointCacheClientOptions.builder(address).shortCircuit(shortCircuit).build());
  }

  /** A new entry of SIZE bytes in the agent; returns its bytes. */
  private byte[] cached(String key, int seed) throws Exception {
    byte[] data = TestBytes.generate(SIZE, seed);
    try (CheckpointCacheClient c = CheckpointCacheClient.connect(agent.tcpAddress())) {
      c.put(key, data, PutOptions.of("short-circuit", 1));
    }
    return data;
  }

  @ParameterizedTest
  @ValueSource(strings = {"tcp", "unix"})
  void readsWholeEntriesAndRangesFromTheFileItself(String transport) throws Exception {
    String key = "sc/whole/" + UUID.randomUUID();
    byte[] data = cached(key, 11);
    try (CheckpointCacheClient c = client(agent.address(transport), true)) {
      try (CheckpointReadStream in = c.open(key, null)) {
        assertArrayEquals(data, in.readAllBytes());
        assertEquals(SIZE, in.bytesFromCache());
        assertEquals(data.length, in.entry().orElseThrow().getSize(), "the lease's entry");
      }
      // Not on a block boundary, across spans.
      long offset = MIB - 5;
      long length = MIB + 10;
      try (CheckpointReadStream in = c.open(key, null, offset, length)) {
        assertArrayEquals(
            Arrays.copyOfRange(data, (int) offset, (int) (offset + length)), in.readAllBytes());
      }
      ClientStatsSnapshot s = c.stats();
      assertEquals(SIZE + length, s.bytesShortCircuit(), "bytes short-circuited");
      assertEquals(s.bytesShortCircuit(), s.bytesFromCache(), "no byte streamed by the agent");
      assertEquals(0, s.shortCircuitMisses());
      assertEquals(Map.of(), s.fallbacks());
    }
  }

  /** Everything left in {@code in}, read with {@code read(b, 0, bufferSize)} calls. */
  private static byte[] readAllWith(CheckpointReadStream in, int bufferSize) throws Exception {
    java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
    byte[] buffer = new byte[bufferSize];
    for (int n; (n = in.read(buffer, 0, bufferSize)) != -1; ) all.write(buffer, 0, n);
    return all.toByteArray();
  }

  @ParameterizedTest
  @ValueSource(ints = {MIB, 100_000, 3 * MIB + 1000})
  void readsThatCoverWholeBlocksGetThemInTheCallersArray(int bufferSize) throws Exception {
    String key = "sc/into/" + UUID.randomUUID();
    byte[] data = cached(key, 21);
    try (CheckpointCacheClient c = client(agent.unixAddress(), true)) {
      try (CheckpointReadStream in = c.open(key, null)) {
        assertArrayEquals(data, readAllWith(in, bufferSize));
      }
      // Starts mid-block (a span first), then whole blocks; ends mid-block (a span last).
      long offset = MIB - 5;
      long length = 2 * MIB + 10;
      try (CheckpointReadStream in = c.open(key, null, offset, length)) {
        assertArrayEquals(
            Arrays.copyOfRange(data, (int) offset, (int) (offset + length)),
            readAllWith(in, bufferSize));
      }
      ClientStatsSnapshot s = c.stats();
      assertEquals(SIZE + length, s.bytesShortCircuit(), "bytes short-circuited");
      assertEquals(s.bytesShortCircuit(), s.bytesFromCache(), "no byte streamed by the agent");
      assertEquals(0, s.shortCircuitMisses());
      assertEquals(Map.of(), s.fallbacks());
    }
  }

  @Test
  void aCorruptBlockIsNeverReturnedToAReadOfWholeBlocks() throws Exception {
    String key = "sc/into-corrupt/" + UUID.randomUUID();
    byte[] data = cached(key, 22);
    URI remote = TestBytes.remoteCopy(tmp, "sc-into-corrupt", data);
    agent.corrupt(key, MIB + 100_000);
    try (CheckpointCacheClient c = client(agent.tcpAddress(), true);
        CheckpointReadStream in = c.open(key, remote)) {
      // The second 1 MiB read fails its check in the caller's array; none of it is returned.
      assertArrayEquals(data, readAllWith(in, MIB));
      assertEquals(MIB, in.bytesFromCache(), "the verified first read");
      assertEquals(SIZE - MIB, in.bytesFromRemote());
      FallbackEvent f = in.fallback().orElseThrow();
      assertEquals(FallbackReason.DATA_LOSS, f.reason());
      assertEquals(MIB, f.offset());
      assertEquals(MIB, c.stats().bytesShortCircuit());
      assertEquals(1, c.stats().shortCircuitMisses());
    }
  }

  @Test
  void seekableStreamsShortCircuitEachRange() throws Exception {
    String key = "sc/seek/" + UUID.randomUUID();
    byte[] data = cached(key, 12);
    try (CheckpointCacheClient c = client(agent.unixAddress(), true);
        SeekableCachedStream in = c.openSeekable(key, null)) {
      in.seek(2 * MIB + 3);
      assertArrayEquals(Arrays.copyOfRange(data, 2 * MIB + 3, 2 * MIB + 103), in.readNBytes(100));
      in.seek(7);
      assertArrayEquals(Arrays.copyOfRange(data, 7, 7 + MIB), in.readNBytes(MIB));
      assertEquals(100 + MIB, c.stats().bytesShortCircuit());
      assertEquals(c.stats().bytesShortCircuit(), c.stats().bytesFromCache());
    }
  }

  @Test
  void readsWhereThisProcessMountsTheCacheDirectory() throws Exception {
    String key = "sc/mount/" + UUID.randomUUID();
    byte[] data = cached(key, 13);
    Path mount = Files.createSymbolicLink(tmp.resolve("mount-" + UUID.randomUUID()), agent.cacheDir());
    try (CheckpointCacheClient c =
        new CheckpointCacheClient(
            CheckpointCacheClientOptions.builder(agent.tcpAddress()).shortCircuit(mount).build())) {
      try (CheckpointReadStream in = c.open(key, null)) {
        assertArrayEquals(data, in.readAllBytes());
      }
      assertEquals(SIZE, c.stats().bytesShortCircuit());
    }
  }

  @Test
  void aCacheDirectoryNotMountedHereStreamsFromTheAgent() throws Exception {
    String key = "sc/unmounted/" + UUID.randomUUID();
    byte[] data = cached(key, 14);
    Path empty = Files.createTempDirectory(tmp, "not-the-cache-");
    try (CheckpointCacheClient c =
        new CheckpointCacheClient(
            CheckpointCacheClientOptions.builder(agent.tcpAddress()).shortCircuit(empty).build())) {
      try (CheckpointReadStream in = c.open(key, null)) {
        assertArrayEquals(data, in.readAllBytes());
      }
      ClientStatsSnapshot s = c.stats();
      assertEquals(0, s.bytesShortCircuit());
      assertEquals(SIZE, s.bytesFromCache(), "streamed by the agent");
      assertEquals(1, s.shortCircuitMisses());
      assertEquals(Map.of(), s.fallbacks());
    }
  }

  @Test
  void aCorruptBlockOnDiskIsNeverReturned() throws Exception {
    String key = "sc/corrupt/" + UUID.randomUUID();
    byte[] data = cached(key, 15);
    URI remote = TestBytes.remoteCopy(tmp, "sc-corrupt", data);
    // In the second 1 MiB span: the first span is short-circuited, the second fails its check;
    // the agent's stream from there fails its own check (DATA_LOSS) and the remote store serves.
    agent.corrupt(key, MIB + 100_000);
    try (CheckpointCacheClient c = client(agent.tcpAddress(), true);
        CheckpointReadStream in = c.open(key, remote)) {
      assertArrayEquals(data, in.readAllBytes());
      assertEquals(MIB, in.bytesFromCache(), "the verified first span");
      assertEquals(SIZE - MIB, in.bytesFromRemote());
      FallbackEvent f = in.fallback().orElseThrow();
      assertEquals(FallbackReason.DATA_LOSS, f.reason());
      assertEquals(MIB, f.offset());
      assertEquals(MIB, c.stats().bytesShortCircuit());
      assertEquals(1, c.stats().shortCircuitMisses());
    }
  }

  @Test
  void aFileGoneAfterTheLeaseContinuesFromTheAgentsStreamAndTheRemote() throws Exception {
    String key = "sc/gone/" + UUID.randomUUID();
    byte[] data = cached(key, 16);
    URI remote = TestBytes.remoteCopy(tmp, "sc-gone", data);
    // The agent's index still holds the entry, so the lease is granted for a file that is gone.
    Files.delete(agent.entryFile(key));
    try (CheckpointCacheClient c = client(agent.tcpAddress(), true);
        CheckpointReadStream in = c.open(key, remote)) {
      assertArrayEquals(data, in.readAllBytes());
      assertEquals(SIZE, in.bytesFromRemote());
      assertTrue(in.fallback().isPresent(), "the agent's stream failed too");
      assertEquals(0, c.stats().bytesShortCircuit());
      assertEquals(1, c.stats().shortCircuitMisses());
    }
  }

  @Test
  void aFileTruncatedMidReadContinuesAtTheByteReached() throws Exception {
    String key = "sc/truncated/" + UUID.randomUUID();
    byte[] data = cached(key, 17);
    URI remote = TestBytes.remoteCopy(tmp, "sc-truncated", data);
    try (CheckpointCacheClient c = client(agent.tcpAddress(), true);
        CheckpointReadStream in = c.open(key, remote)) {
      byte[] first = in.readNBytes(MIB);
      // Cut the file under the open handle: the span read ahead, or the next, ends early.
      try (FileChannel f = FileChannel.open(agent.entryFile(key), StandardOpenOption.WRITE)) {
        f.truncate(MIB + MIB / 2);
      }
      byte[] rest = in.readAllBytes();
      byte[] got = Arrays.copyOf(first, SIZE);
      System.arraycopy(rest, 0, got, MIB, rest.length);
      assertEquals(SIZE - MIB, rest.length);
      assertArrayEquals(data, got);
      assertEquals(1, c.stats().shortCircuitMisses());
      assertTrue(in.bytesFromRemote() > 0, "the agent's copy is short too");
    }
  }

  @Test
  void removedWhileOpenStillReadsTheSameBytes() throws Exception {
    String key = "sc/deleted/" + UUID.randomUUID();
    byte[] data = cached(key, 18);
    try (CheckpointCacheClient c = client(agent.unixAddress(), true);
        CheckpointReadStream in = c.open(key, null)) {
      byte[] first = in.readNBytes(MIB);
      // Deleted as usual while leased; the open file still holds the verified bytes.
      assertTrue(c.delete(key));
      byte[] rest = in.readAllBytes();
      byte[] got = Arrays.copyOf(first, SIZE);
      System.arraycopy(rest, 0, got, MIB, rest.length);
      assertArrayEquals(data, got);
      assertEquals(SIZE, c.stats().bytesShortCircuit());
    }
  }

  @Test
  void anAgentThatIsDownSendsTheReadStraightToTheRemoteStore() throws Exception {
    TestAgent down = TestAgent.start(tmp);
    String address = down.unixAddress();
    down.stop();
    byte[] data = TestBytes.generate(100_000, 19);
    URI remote = TestBytes.remoteCopy(tmp, "sc-down", data);
    try (CheckpointCacheClient c = client(address, true);
        CheckpointReadStream in = c.open("sc/down", remote)) {
      assertArrayEquals(data, in.readAllBytes());
      assertEquals(FallbackReason.UNAVAILABLE, in.fallback().orElseThrow().reason());
      assertEquals(Map.of(FallbackReason.UNAVAILABLE, 1L), c.stats().fallbacks(), "asked once");
      assertEquals(1, c.stats().shortCircuitMisses());
    }
  }

  @Test
  void theOptionOffNeverLeases() throws Exception {
    String key = "sc/off/" + UUID.randomUUID();
    byte[] data = cached(key, 20);
    try (CheckpointCacheClient c = client(agent.tcpAddress(), false);
        CheckpointReadStream in = c.open(key, null)) {
      assertArrayEquals(data, in.readAllBytes());
      assertEquals(0, c.stats().bytesShortCircuit());
      assertEquals(0, c.stats().shortCircuitMisses());
    }
  }
}
