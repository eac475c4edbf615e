package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.remote.RemoteStoreException;
import io.checkpointcache.v1.EntryInfo;
import io.grpc.Status;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestWatcher;
import org.junit.jupiter.api.io.TempDir;

/**
 * The client's API against a real agent, beyond the conformance scenarios: writes (chunking,
 * flow control, rejected writes), seekable reads, management RPCs, counters, a hung agent.
 */
class CheckpointCacheClientTest {
  private static final int KIB = 1024;
  private static final int MIB = 1024 * KIB;

  @TempDir static Path tmp;
  private static TestAgent agent;

  /** A failed test prints the agent's log (into the Surefire output file). */
  @RegisterExtension
  static final TestWatcher AGENT_LOG_ON_FAILURE =
      new TestWatcher() {
        @Override
        public void testFailed(ExtensionContext context, Throwable cause) {
          if (agent != null) {
            System.out.println(
                context.getDisplayName() + " failed; agent log:\n" + agent.logTail());
          }
        }
      };
  private CheckpointCacheClient client;

  @BeforeAll
  static void startAgent() throws Exception {
    agent = TestAgent.start(tmp);
  }

  @AfterAll
  static void stopAgent() throws Exception {
    if (agent != null) agent.stop();
  }

  @BeforeEach
  void connect() {
    client = CheckpointCacheClient.connect(agent.unixAddress());
  }

  @AfterEach
  void close() {
    client.close();
  }

  private static String key(String name) {
    return "java-test/" + name + "/" + UUID.randomUUID();
  }

  @Test
  void putsInSmallChunksWithFlowControlAndKeepsDuplicates() throws Exception {
    byte[] data = TestBytes.generate(3 * MIB + 7, 101);
    String k = key("small-chunks");
    try (CheckpointCacheClient smallChunks =
        new CheckpointCacheClient(
            CheckpointCacheClientOptions.builder(agent.tcpAddress()).writeChunkSize(1000).build())) {
      PutResult first = smallChunks.put(k, TestBytes.trickle(data, 4093), PutOptions.of("job-w", 1));
      assertTrue(first.created());
      assertEquals(data.length, first.entry().getSize());
      assertEquals(TestBytes.crc32c(data), first.entry().getCrc32C());
    }
    PutResult again = client.put(k, data, PutOptions.of("job-w", 1));
    assertFalse(again.created(), "same bytes again: kept, not rewritten");
    try (CheckpointReadStream in = client.open(k, null)) {
      assertArrayEquals(data, TestBytes.readAll(in, 10_000));
      assertEquals(data.length, in.bytesFromCache());
      assertEquals(data.length, in.entry().orElseThrow().getSize());
    }
  }

  @Test
  void readsByteByByte() throws Exception {
    byte[] data = TestBytes.generate(1000, 102);
    String k = key("bytes");
    client.put(k, data, PutOptions.DEFAULT);
    try (InputStream in = client.open(k, null)) {
      for (int i = 0; i < data.length; i++) assertEquals(data[i] & 0xff, in.read(), "byte " + i);
      assertEquals(-1, in.read());
      assertEquals(-1, in.read());
    }
  }

  @Test
  void rejectsConflictingWrongAndBadWritesLeavingNothingVisible() throws Exception {
    String k = key("conflict");
    client.put(k, "one".getBytes(), PutOptions.DEFAULT);
    CheckpointCacheException conflict =
        assertThrows(
            CheckpointCacheException.class, () -> client.put(k, "two".getBytes(), PutOptions.DEFAULT));
    assertEquals(Status.Code.ALREADY_EXISTS, conflict.code());
    assertArrayEquals("one".getBytes(), TestBytes.readAll(client.open(k, null), 10));

    String wrongSize = key("wrong-size");
    CheckpointCacheException size =
        assertThrows(
            CheckpointCacheException.class,
            () ->
                client.put(
                    wrongSize,
                    new ByteArrayInputStream(new byte[100]),
                    PutOptions.DEFAULT.withSize(101L)));
    assertEquals(Status.Code.FAILED_PRECONDITION, size.code());
    assertNotCached(wrongSize);

    String wrongCrc = key("wrong-crc");
    CheckpointCacheException crc =
        assertThrows(
            CheckpointCacheException.class,
            () ->
                client.put(
                    wrongCrc,
                    new ByteArrayInputStream(new byte[100]),
                    PutOptions.DEFAULT.withCrc32c(12345)));
    assertEquals(Status.Code.FAILED_PRECONDITION, crc.code());
    assertNotCached(wrongCrc);

    CheckpointCacheException empty =
        assertThrows(
            CheckpointCacheException.class, () -> client.put("", new byte[1], PutOptions.DEFAULT));
    assertEquals(Status.Code.INVALID_ARGUMENT, empty.code());
  }

  @Test
  void aSourceThatFailsCancelsTheWrite() throws Exception {
    String k = key("broken-source");
    InputStream broken =
        new InputStream() {
          private int sent;

          @Override
          public int read() throws IOException {
            if (sent++ < 700_000) return 7;
            throw new IOException("disk gone");
          }
        };
    IOException e =
        assertThrows(IOException.class, () -> client.put(k, broken, PutOptions.DEFAULT));
    assertEquals("disk gone", e.getMessage());
    assertNotCached(k);
  }

  @Test
  void seeksByReopeningRangeReads() throws Exception {
    byte[] data = TestBytes.generate(3 * MIB, 103);
    String k = key("seek");
    client.put(k, data, PutOptions.DEFAULT);
    URI remote = TestBytes.remoteCopy(tmp, "seek", data);
    long readsBefore = client.stats().reads();
    try (SeekableCachedStream in = client.openSeekable(k, remote)) {
      assertEquals(0, in.getPos());
      assertArrayEquals(Arrays.copyOfRange(data, 0, 100), in.readNBytes(100));
      assertEquals(100, in.getPos());
      in.seek(2 * MIB + 5);
      assertArrayEquals(Arrays.copyOfRange(data, 2 * MIB + 5, 2 * MIB + 1005), in.readNBytes(1000));
      in.seek(10);
      assertArrayEquals(Arrays.copyOfRange(data, 10, 300_000), in.readNBytes(300_000 - 10));
      in.seek(data.length - 3);
      assertArrayEquals(Arrays.copyOfRange(data, data.length - 3, data.length), in.readAllBytes());
      assertEquals(-1, in.read());
      in.seek(data.length);
      assertEquals(-1, in.read(), "reading at the end");
      assertEquals(data.length, in.getPos());
      assertEquals(0, in.bytesFromRemote());
      assertEquals(100 + 1000 + 300_000 - 10 + 3, in.bytesFromCache());
      assertTrue(in.fallback().isEmpty());
      assertThrows(IOException.class, () -> in.seek(-1));
    }
    // seek(length) after reading to the end is no move: the ended read answers -1 itself.
    assertEquals(4, client.stats().reads() - readsBefore, "one read per position read from");
  }

  @Test
  void seekableStreamGoesStraightToRemoteAfterAFallback() throws Exception {
    byte[] data = TestBytes.generate(MIB, 104);
    String k = key("seek-miss");
    URI remote = TestBytes.remoteCopy(tmp, "seek-miss", data);
    try (SeekableCachedStream in = client.openSeekable(k, remote)) {
      assertArrayEquals(Arrays.copyOfRange(data, 0, 10), in.readNBytes(10));
      in.seek(500_000);
      assertArrayEquals(Arrays.copyOfRange(data, 500_000, 500_100), in.readNBytes(100));
      in.seek(5);
      assertArrayEquals(Arrays.copyOfRange(data, 5, 50), in.readNBytes(45));
      assertEquals(FallbackReason.NOT_FOUND, in.fallback().orElseThrow().reason());
      assertEquals(155, in.bytesFromRemote());
      assertEquals(0, in.bytesFromCache());
    }
    assertEquals(Map.of(FallbackReason.NOT_FOUND, 1L), client.stats().fallbacks());
  }

  @Test
  void aCachedCopyOfAnotherVersionOfTheRemoteFileIsNotUsed() throws Exception {
    byte[] old = TestBytes.generate(100_000, 108);
    byte[] longer = TestBytes.generate(150_000, 109);
    String k = key("stale-size");
    client.put(k, old, PutOptions.DEFAULT);
    URI remote = TestBytes.remoteCopy(tmp, "stale-size", longer);
    try (SeekableCachedStream in =
        client.openSeekable(k, remote, RemoteVersion.ofSize(longer.length))) {
      assertArrayEquals(longer, in.readAllBytes());
      assertEquals(FallbackReason.STALE_ENTRY, in.fallback().orElseThrow().reason());
      assertEquals(0, in.bytesFromCache());
    }
    // A first read past the copy's end: the agent's INVALID_ARGUMENT is not the caller's mistake.
    try (SeekableCachedStream in =
        client.openSeekable(k, remote, RemoteVersion.ofSize(longer.length))) {
      in.seek(120_000);
      assertArrayEquals(Arrays.copyOfRange(longer, 120_000, 120_100), in.readNBytes(100));
      assertEquals(FallbackReason.STALE_ENTRY, in.fallback().orElseThrow().reason());
    }
    // Without a version, the same range is the caller's mistake, as before.
    try (SeekableCachedStream in = client.openSeekable(k, remote)) {
      in.seek(120_000);
      CheckpointCacheException e = assertThrows(CheckpointCacheException.class, in::read);
      assertEquals(Status.Code.INVALID_ARGUMENT, e.code());
    }

    long created = client.stat(k, true).getCreatedAtMs();
    URI sameSize = TestBytes.remoteCopy(tmp, "stale-time", TestBytes.generate(old.length, 110));
    RemoteVersion changedLater = new RemoteVersion(old.length, created + 60_000, 5_000);
    try (CheckpointReadStream in = client.open(k, sameSize, 0, null, changedLater)) {
      assertArrayEquals(TestBytes.generate(old.length, 110), in.readAllBytes());
      assertEquals(FallbackReason.STALE_ENTRY, in.fallback().orElseThrow().reason());
    }
    RemoteVersion withinSkew = new RemoteVersion(old.length, created + 4_000, 5_000);
    try (CheckpointReadStream in = client.open(k, sameSize, 0, null, withinSkew)) {
      assertArrayEquals(old, in.readAllBytes(), "within the clock skew the copy is used");
      assertTrue(in.fallback().isEmpty());
    }
  }

  @Test
  void statTouchListReleaseDelete() throws Exception {
    String job = "job-" + UUID.randomUUID();
    List<String> keys = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      String k = key("mgmt-" + i);
      keys.add(k);
      client.put(k, ("entry " + i).getBytes(), PutOptions.of(job, i < 3 ? 1 : 2));
    }
    EntryInfo info = client.stat(keys.get(0), true);
    assertEquals(keys.get(0), info.getKey());
    assertEquals(7, info.getSize());
    assertEquals(job, info.getJobId());
    assertEquals(List.of(1L), info.getCheckpointIdsList());
    assertTrue(client.touch(keys.get(0), 3, Duration.ofHours(1)).getCheckpointIdsList().contains(3L));
    assertEquals(keys.get(1), client.touch(keys.get(1)).getKey());

    List<String> listed = new ArrayList<>();
    for (EntryInfo e : client.list(job, null)) listed.add(e.getKey());
    assertEquals(keys.stream().sorted().toList(), listed, "key order, all pages");

    List<String> paged = new ArrayList<>();
    String token = "";
    int pages = 0;
    do {
      ListPage page = client.listPage(job, null, 2, token);
      page.entries().forEach(e -> paged.add(e.getKey()));
      token = page.nextPageToken();
      pages++;
    } while (!token.isEmpty());
    assertEquals(listed, paged);
    assertEquals(3, pages);

    List<String> second = new ArrayList<>();
    client.list(job, 2L).forEach(e -> second.add(e.getKey()));
    assertEquals(keys.subList(3, 5).stream().sorted().toList(), second);

    // Checkpoint 2 subsumes 1: entries only checkpoint 1 references go; key 0 is also in 3.
    ReleaseResult released = client.release(job, 2L);
    assertEquals(2, released.releasedEntries());
    assertEquals(14, released.releasedBytes());
    assertNotCached(keys.get(1));
    client.stat(keys.get(0), true);

    assertTrue(client.delete(keys.get(3)));
    assertFalse(client.delete(keys.get(3)));
    ReleaseResult rest = client.release(job, null);
    assertEquals(2, rest.releasedEntries());
    assertFalse(client.list(job, null).iterator().hasNext());

    CheckpointCacheException bad =
        assertThrows(CheckpointCacheException.class, () -> client.release("", null));
    assertEquals(Status.Code.INVALID_ARGUMENT, bad.code());
  }

  @Test
  void anUnknownRemoteSchemeFailsAtOpen() {
    RemoteStoreException e =
        assertThrows(
            RemoteStoreException.class, () -> client.open("k", URI.create("s3://bucket/k")));
    assertEquals(RemoteStoreException.Code.UNSUPPORTED_URI, e.code());
  }

  @Test
  void fallsBackToAnHttpRemote() throws Exception {
    byte[] data = TestBytes.generate(700_000, 105);
    try (RangeHttpServer http = RangeHttpServer.serving(data)) {
      try (CheckpointReadStream in =
          client.open(key("http-miss"), http.uri("/ok"), 1234, 500_000L)) {
        assertArrayEquals(Arrays.copyOfRange(data, 1234, 501_234), in.readAllBytes());
        assertEquals(FallbackReason.NOT_FOUND, in.fallback().orElseThrow().reason());
        assertEquals(500_000, in.bytesFromRemote());
      }
    }
  }

  @Test
  void aHungAgentCostsTheFirstMessageTimeoutThenTheRemoteServes() throws Exception {
    byte[] data = TestBytes.generate(10_000, 106);
    URI remote = TestBytes.remoteCopy(tmp, "hung", data);
    // Accepts connections and never answers: no HTTP/2 settings, no header.
    try (ServerSocket silent = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
      List<Socket> accepted = new ArrayList<>();
      Thread acceptor =
          new Thread(
              () -> {
                try {
                  for (; ; ) accepted.add(silent.accept());
                } catch (IOException ignored) {
                  // The server socket closed: the test is over.
                }
              });
      acceptor.setDaemon(true);
      acceptor.start();
      try (CheckpointCacheClient hung =
          new CheckpointCacheClient(
              CheckpointCacheClientOptions.builder("127.0.0.1:" + silent.getLocalPort())
                  .firstMessageTimeout(Duration.ofMillis(300))
                  .unaryTimeout(Duration.ofMillis(300))
                  .build())) {
        long started = System.nanoTime();
        try (CheckpointReadStream in = hung.open("k", remote)) {
          assertArrayEquals(data, in.readAllBytes());
          assertEquals(FallbackReason.FIRST_MESSAGE_TIMEOUT, in.fallback().orElseThrow().reason());
        }
        long ms = (System.nanoTime() - started) / 1_000_000;
        assertTrue(ms >= 250 && ms < 5_000, "took " + ms + " ms");
        CheckpointCacheException stat =
            assertThrows(CheckpointCacheException.class, () -> hung.stat("k"));
        assertEquals(Status.Code.DEADLINE_EXCEEDED, stat.code());
      } finally {
        for (Socket s : accepted) s.close();
      }
    }
  }

  @Test
  void managementCallsToADeadAgentAreUnavailable() throws Exception {
    Path socket = Files.createTempDirectory(tmp, "dead").resolve("nothing.sock");
    try (CheckpointCacheClient dead = CheckpointCacheClient.connect("unix:" + socket)) {
      CheckpointCacheException e =
          assertThrows(CheckpointCacheException.class, () -> dead.stat("k"));
      assertEquals(Status.Code.UNAVAILABLE, e.code());
      CheckpointCacheException read =
          assertThrows(CheckpointCacheException.class, () -> dead.open("k", null).read());
      assertEquals(Status.Code.UNAVAILABLE, read.code());
      assertEquals(1, dead.stats().failedReads());
    }
  }

  @Test
  void readsAndWritesLargeEntriesOverBothTransports() throws Exception {
    byte[] data = TestBytes.generate(64 * MIB, 107);
    String k = key("large");
    long t0 = System.nanoTime();
    client.put(k, data, PutOptions.DEFAULT);
    long t1 = System.nanoTime();
    for (String address : List.of(agent.unixAddress(), agent.tcpAddress())) {
      try (CheckpointCacheClient c = CheckpointCacheClient.connect(address)) {
        long start = System.nanoTime();
        byte[] got;
        try (CheckpointReadStream in = c.open(k, null)) {
          got = TestBytes.readAll(in, 256 * KIB);
        }
        long ns = System.nanoTime() - start;
        assertTrue(Arrays.equals(data, got), "64 MiB over " + address);
        assertEquals(data.length, c.stats().bytesFromCache());
        System.out.printf(
            "read 64 MiB over %s: %.0f MB/s%n",
            address.startsWith("unix:") ? "unix socket" : "tcp", data.length / (ns / 1e3));
      }
    }
    System.out.printf("put 64 MiB over unix socket: %.0f MB/s%n", data.length / ((t1 - t0) / 1e3));
  }

  private void assertNotCached(String key) {
    CheckpointCacheException e =
        assertThrows(CheckpointCacheException.class, () -> client.stat(key, true));
    assertEquals(Status.Code.NOT_FOUND, e.code(), e.getMessage());
  }

  /** {@code data} as a new file of the agent's ingest directory. */
  private Path spoolFile(byte[] data) throws IOException {
    return Files.write(agent.ingestDir().resolve("spool-" + UUID.randomUUID()), data);
  }

  private static PutOptions ingestOptions(byte[] data, long checkpointId) {
    return PutOptions.of("job", checkpointId)
        .withSize((long) data.length)
        .withCrc32c(TestBytes.crc32c(data));
  }

  @Test
  void ingestCopiesAFileOfTheIngestDirectoryAndLeavesIt() throws Exception {
    byte[] data = TestBytes.generate(3 * MIB + 5, 41);
    Path spool = spoolFile(data);
    String key = "hdfs://nn/ckpt/java/ingest-" + UUID.randomUUID();
    PutOptions options = ingestOptions(data, 7);
    PutResult result = client.ingest(key, spool.getFileName().toString(), options);
    assertTrue(result.created());
    assertEquals(data.length, result.entry().getSize());
    assertArrayEquals(data, TestBytes.readAll(client.open(key, null), 10_000));
    assertArrayEquals(data, Files.readAllBytes(spool), "the caller's file is left as it was");

    CheckpointCacheException wrongCrc =
        assertThrows(
            CheckpointCacheException.class,
            () ->
                client.ingest(
                    key + "-crc",
                    spool.getFileName().toString(),
                    options.withCrc32c(TestBytes.crc32c(data) ^ 1)));
    assertEquals(Status.Code.FAILED_PRECONDITION, wrongCrc.code());
    assertThrows(
        IllegalArgumentException.class,
        () -> client.ingest(key, spool.getFileName().toString(), PutOptions.of("job", 7)));
    try (CheckpointCacheClient overTcp = CheckpointCacheClient.connect(agent.tcpAddress())) {
      CheckpointCacheException refused =
          assertThrows(
              CheckpointCacheException.class,
              () -> overTcp.ingest(key + "-tcp", spool.getFileName().toString(), options));
      assertEquals(Status.Code.PERMISSION_DENIED, refused.code());
    }
  }

  @Test
  void ingestWithHandOverLinksTheFileIntoTheCache() throws Exception {
    byte[] data = TestBytes.generate(2 * MIB + 3, 43);
    Path spool = spoolFile(data);
    String key = "hdfs://nn/ckpt/java/handover-" + UUID.randomUUID();
    PutResult result =
        client.ingest(key, spool.getFileName().toString(), ingestOptions(data, 8), true);
    assertTrue(result.created());
    assertEquals(
        Files.getAttribute(spool, "unix:ino"),
        Files.getAttribute(agent.entryFile(key), "unix:ino"),
        "one inode: the entry is a link to the caller's file, not a copy");
    Files.delete(spool);
    assertArrayEquals(data, TestBytes.readAll(client.open(key, null), 10_000));
  }
}
