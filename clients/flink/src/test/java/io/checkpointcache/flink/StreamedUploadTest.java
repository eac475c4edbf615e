package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.CheckpointCacheException;
import io.grpc.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.zip.CRC32C;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Uploads streamed to a real agent while the file is written ({@code checkpoint-cache.upload
 * .streams}): what the agent has received before close is observed in its staging directory, not
 * inferred from timing. With ASYNC and batching on (the defaults) a file asks for a stream slot
 * only once it grows past {@code upload.batch-max-bytes} (64 KiB); that it took one shows as a
 * pending upload before close. Every file here but those of that threshold's own tests is larger.
 */
class StreamedUploadTest {
  private static final int MIB = 1024 * 1024;
  private static final String JOB = "00000000000000000000000000000abc";
  private static final Duration WAIT = Duration.ofSeconds(30);

  @RegisterExtension static final SharedTestAgent SHARED = new SharedTestAgent();
  private static java.nio.file.Path tmp;
  private static TestAgent agent;
  private static CheckpointCacheClient client;

  private java.nio.file.Path remote;
  private FileSystem fs;
  private final CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();

  @BeforeAll
  static void shared() {
    tmp = SHARED.dir();
    agent = SHARED.agent();
    client = SHARED.client();
  }

  @BeforeEach
  void newRemote() throws IOException {
    remote = Files.createTempDirectory(tmp, "remote-");
    fs = fileSystem(agent.address(), "async", 4);
    metrics.reset();
  }

  @AfterEach
  void uploadsDone() throws InterruptedException {
    assertTrue(metrics.awaitUploadsIdle(WAIT));
  }

  private FileSystem fileSystem(String agentAddress, String upload, int streams)
      throws IOException {
    return SHARED.fileSystem(
        agentAddress,
        remote.toUri().toString(),
        Map.of(
            "checkpoint-cache.upload", upload,
            "checkpoint-cache.upload.streams", String.valueOf(streams)));
  }

  private static byte[] bytes(int size, long seed) {
    return SharedTestAgent.bytes(size, seed);
  }

  private static int crc32c(byte[] data) {
    CRC32C crc = new CRC32C();
    crc.update(data);
    return (int) crc.getValue();
  }

  /** Uneven writes, as Flink's buffered state streams make them. */
  private static void writeSome(FSDataOutputStream out, byte[] data, int from, int to)
      throws IOException {
    for (int off = from; off < to; ) {
      int n = Math.min(to - off, 1 + (off % 70_000));
      out.write(data, off, n);
      off += n;
    }
  }

  private String key(Path ckc) {
    return ((CheckpointCacheFileSystem) fs).cacheKey(ckc);
  }

  private boolean cached(Path ckc) throws CheckpointCacheException {
    try {
      client.stat(key(ckc), true);
      return true;
    } catch (CheckpointCacheException e) {
      if (e.code() == Status.Code.NOT_FOUND) return false;
      throw e;
    }
  }

  private static void waitUntil(String what, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting until " + what);
      Thread.sleep(20);
    }
  }

  private static BooleanSupplier agentHasReceived(TestAgent a, long bytes) {
    return () -> {
      try {
        return a.stagedBytes() >= bytes;
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    };
  }

  private static BooleanSupplier agentStagesNothing(TestAgent a) {
    return () -> {
      try {
        return a.stagedFiles() == 0;
      } catch (IOException e) {
        throw new IllegalStateException(e);
      }
    };
  }

  @Test
  void theAgentReceivesTheFileWhileItIsWrittenAndCommitsItAfterClose() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-1/streamed");
    byte[] data = bytes(6 * MIB + 123, 1);
    try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
      writeSome(out, data, 0, 4 * MIB);
      waitUntil("the agent received 2 MiB of the open file", agentHasReceived(agent, 2 * MIB));
      assertTrue(!cached(p), "not committed before the real stream closed");
      writeSome(out, data, 4 * MIB, data.length);
    }
    assertTrue(metrics.awaitUploadsIdle(WAIT));
    var entry = client.stat(key(p), true);
    assertEquals(data.length, entry.getSize());
    assertEquals(crc32c(data), entry.getCrc32C());
    assertArrayEquals(data, Files.readAllBytes(agent.entryFile(key(p))), "byte-identical copy");
    assertArrayEquals(data, Files.readAllBytes(remote.resolve("ckpt/" + JOB + "/chk-1/streamed")));
    var s = metrics.snapshot();
    assertEquals(1, s.uploadsSucceeded());
    assertEquals(0, s.uploadsFailed());
  }

  @Test
  void syncCloseReturnsWithTheCopyCommitted() throws Exception {
    fs = fileSystem(agent.address(), "sync", 4);
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-2/sync");
    byte[] data = bytes(3 * MIB + 5, 2);
    try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
      writeSome(out, data, 0, data.length);
    }
    assertEquals(0, metrics.snapshot().pendingUploads());
    assertEquals(crc32c(data), client.stat(key(p), true).getCrc32C());
  }

  /** A real stream that takes {@code failPast} bytes and throws at any write beyond them. */
  private static FSDataOutputStream failingPast(long failPast) {
    return new FSDataOutputStream() {
      private long pos;

      @Override
      public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
      }

      @Override
      public void write(byte[] b, int off, int len) throws IOException {
        if (pos + len > failPast) throw new IOException("disk full");
        pos += len;
      }

      @Override
      public long getPos() {
        return pos;
      }

      @Override
      public void flush() {}

      @Override
      public void sync() {}

      @Override
      public void close() {}
    };
  }

  /** Once the uploads are idle: the one upload was counted cancelled, and {@code key} is not cached. */
  private void assertCancelledOnceAndNotCached(String key) throws InterruptedException {
    assertTrue(metrics.awaitUploadsIdle(WAIT));
    var s = metrics.snapshot();
    assertEquals(0, s.uploadsSucceeded());
    assertEquals(1, s.uploadsCancelled());
    assertEquals(0, s.uploadsFailed());
    assertThrows(CheckpointCacheException.class, () -> client.stat(key, true));
  }

  @Test
  void aFailedRealWriteCancelsTheStreamAndLeavesNothing() throws Exception {
    Configuration c = new Configuration();
    c.setString("checkpoint-cache.target", remote.toUri().toString());
    c.setString("checkpoint-cache.agent", agent.address());
    c.setString("checkpoint-cache.spool-dir", tmp.resolve("spool").toString());
    CacheConnection connection =
        CacheConnection.forSettings(CheckpointCacheSettings.from(c, java.util.Map.of()));
    String key = "file:" + remote.resolve("failed-while-streaming");
    byte[] data = bytes(4 * MIB, 3);
    FSDataOutputStream failing = failingPast(3 * MIB);
    CachingOutputStream out =
        new CachingOutputStream(
            failing,
            key,
            new CheckpointLabels("", 0, false),
            ((UploadingCacheAccess) connection.cache).uploader,
            metrics);
    writeSome(out, data, 0, 2 * MIB);
    waitUntil("the agent received 1 MiB", agentHasReceived(agent, MIB));
    assertThrows(IOException.class, () -> writeSome(out, data, 2 * MIB, data.length));
    out.close();
    assertCancelledOnceAndNotCached(key);
    waitUntil("the agent dropped the staged bytes", agentStagesNothing(agent));
  }

  @Test
  void aFileDeletedBeforeItsUploadFinishedLeavesNothing() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-3/aborted-checkpoint");
    byte[] data = bytes(4 * MIB, 4);
    try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
      writeSome(out, data, 0, 2 * MIB);
      waitUntil("the agent received 1 MiB", agentHasReceived(agent, MIB));
      // An aborted checkpoint: Flink deletes its files, here while one is still open.
      assertTrue(fs.delete(p, false));
      writeSome(out, data, 2 * MIB, data.length);
    }
    assertTrue(metrics.awaitUploadsIdle(WAIT));
    assertTrue(!cached(p));
    var s = metrics.snapshot();
    assertEquals(0, s.uploadsSucceeded());
    assertEquals(1, s.uploadsCancelled());
    waitUntil("the agent dropped the staged bytes", agentStagesNothing(agent));
  }

  /**
   * Another process (the JobManager, subsuming the checkpoint) deletes the real file before its
   * copy is committed: that delete found no copy on any node, so the copy goes once committed.
   * Measured in the 256 MB cluster: ASYNC copies lagging a few checkpoints were all left behind.
   */
  @Test
  void aFileDeletedElsewhereBeforeItsCopyIsCommittedLeavesNoCopy() throws Exception {
    for (int streams : new int[] {4, 0}) {
      fs = fileSystem(agent.address(), "sync", streams);
      Path p = new Path("ckc:///ckpt/" + JOB + "/chk-6/subsumed-" + streams);
      byte[] data = bytes(2 * MIB, 6);
      try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
        writeSome(out, data, 0, data.length);
        // Not through ckc:// (which would cancel this process's upload): as another process.
        Files.delete(remote.resolve("ckpt/" + JOB + "/chk-6/subsumed-" + streams));
      }
      assertTrue(metrics.awaitUploadsIdle(WAIT));
      assertTrue(!cached(p), "streams " + streams + ": no copy of a deleted file");
    }
  }

  @Test
  void anAgentKilledMidStreamLeavesTheRealFileWholeAndTheFileCountedNotCached() throws Exception {
    try (TestAgent doomed = TestAgent.start(tmp)) {
      fs = fileSystem(doomed.address(), "async", 4);
      Path p = new Path("ckc:///ckpt/" + JOB + "/chk-4/agent-killed");
      byte[] data = bytes(4 * MIB, 5);
      try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
        writeSome(out, data, 0, 2 * MIB);
        waitUntil("the agent received 1 MiB", agentHasReceived(doomed, MIB));
        doomed.kill();
        writeSome(out, data, 2 * MIB, data.length);
      }
      assertTrue(metrics.awaitUploadsIdle(WAIT));
      assertArrayEquals(
          data, Files.readAllBytes(remote.resolve("ckpt/" + JOB + "/chk-4/agent-killed")));
      var s = metrics.snapshot();
      assertEquals(0, s.uploadsSucceeded());
      assertEquals(1, s.uploadsFailed());
    }
  }

  /**
   * A 3 MiB file written in 8 KiB writes, with ASYNC and batching at 64 KiB (the defaults): it
   * takes a slot at the write that takes it past 64 KiB, not before, and the agent has its bytes
   * before close (the agent writes what it received in 1 MiB gathers: 2 MiB written, 1 MiB seen).
   * With one slot, a second such file streams too: the first one's slot, taken mid-write, was
   * released.
   */
  @Test
  void aFileStreamsOnceItGrowsPastTheBatchSize() throws Exception {
    fs = fileSystem(agent.address(), "async", 1);
    for (int n = 0; n < 2; n++) {
      metrics.reset();
      Path p = new Path("ckc:///ckpt/" + JOB + "/chk-7/grows-" + n);
      byte[] data = bytes(3 * MIB, 70 + n);
      try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
        for (int off = 0; off < 64 * 1024; off += 8 * 1024) out.write(data, off, 8 * 1024);
        assertEquals(0, metrics.snapshot().pendingUploads(), "64 KiB: no slot asked for yet");
        out.write(data[64 * 1024]);
        assertEquals(1, metrics.snapshot().pendingUploads(), "one byte past: streamed");
        for (int off = 64 * 1024 + 1; off < 2 * MIB; off += 8 * 1024) {
          out.write(data, off, Math.min(8 * 1024, 2 * MIB - off));
        }
        waitUntil("the agent received 1 MiB of it", agentHasReceived(agent, MIB));
        assertTrue(!cached(p), "not committed before the real stream closed");
        for (int off = 2 * MIB; off < data.length; off += 8 * 1024) {
          out.write(data, off, 8 * 1024);
        }
      }
      assertTrue(metrics.awaitUploadsIdle(WAIT));
      assertArrayEquals(data, Files.readAllBytes(agent.entryFile(key(p))), "byte-identical copy");
      var s = metrics.snapshot();
      assertEquals(1, s.uploadsSucceeded());
      assertEquals(0, s.uploadsBatched());
    }
  }

  /**
   * SYNC, and ASYNC with batching off, keep asking for a slot at create: even a 10-byte file
   * streams (a pending upload from create on, committed by close in SYNC).
   */
  @Test
  void withSyncOrBatchingOffAFileAsksForASlotAtCreate() throws Exception {
    for (String mode : new String[] {"sync", "async-unbatched", "async"}) {
      fs =
          SHARED.fileSystem(
              agent.address(),
              remote.toUri().toString(),
              Map.of(
                  "checkpoint-cache.upload", mode.startsWith("sync") ? "sync" : "async",
                  "checkpoint-cache.upload.batch-max-bytes",
                      mode.equals("async-unbatched") ? "0" : "64 kb"));
      metrics.reset();
      Path p = new Path("ckc:///ckpt/" + JOB + "/chk-8/tiny-" + mode);
      byte[] data = bytes(10, 80);
      try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
        assertEquals(
            mode.equals("async") ? 0 : 1,
            metrics.snapshot().pendingUploads(),
            mode + ": a stream slot at create");
        out.write(data);
      }
      if (mode.equals("sync")) assertTrue(cached(p), "sync: committed by close");
      assertTrue(metrics.awaitUploadsIdle(WAIT));
      assertArrayEquals(data, Files.readAllBytes(agent.entryFile(key(p))));
    }
  }

  /**
   * A real write that fails after the file took its slot (past 64 KiB) aborts the streamed copy:
   * nothing cached, counted cancelled once, the spool file gone, and the slot free again (one
   * slot: the next file streams). A real write that fails before that leaves nothing either.
   */
  @Test
  void aRealWriteFailingAfterTheFileTookItsSlotLeavesNothing() throws Exception {
    java.nio.file.Path spool = tmp.resolve("spool-failing-past");
    Configuration c = new Configuration();
    c.setString("checkpoint-cache.target", remote.toUri().toString());
    c.setString("checkpoint-cache.agent", agent.address());
    c.setString("checkpoint-cache.spool-dir", spool.toString());
    c.setString("checkpoint-cache.upload.streams", "1");
    CacheConnection connection =
        CacheConnection.forSettings(CheckpointCacheSettings.from(c, java.util.Map.of()));
    CacheUploader uploader = ((UploadingCacheAccess) connection.cache).uploader;
    CheckpointLabels labels = new CheckpointLabels("", 0, false);

    String early = "file:" + remote.resolve("fails-before-its-slot");
    CachingOutputStream before =
        new CachingOutputStream(failingPast(32 * 1024), early, labels, uploader, metrics);
    byte[] data = bytes(512 * 1024, 90);
    assertThrows(IOException.class, () -> writeSome(before, data, 0, data.length));
    before.close();

    String key = "file:" + remote.resolve("fails-past-its-slot");
    CachingOutputStream out =
        new CachingOutputStream(failingPast(256 * 1024), key, labels, uploader, metrics);
    writeSome(out, data, 0, 128 * 1024);
    assertEquals(1, metrics.snapshot().pendingUploads(), "past 64 KiB: streamed");
    assertThrows(IOException.class, () -> writeSome(out, data, 128 * 1024, data.length));
    out.close();
    assertCancelledOnceAndNotCached(key);
    assertThrows(CheckpointCacheException.class, () -> client.stat(early, true));
    waitUntil("the agent dropped the staged bytes", agentStagesNothing(agent));
    try (var dirs = Files.list(spool)) {
      for (java.nio.file.Path d : (Iterable<java.nio.file.Path>) dirs::iterator) {
        try (var left = Files.list(d)) {
          assertEquals(java.util.List.of(), left.toList(), "both spool files removed");
        }
      }
    }

    // The slot the aborted file took mid-write is free again.
    Path next = new Path(remote.resolve("after-the-failed-one").toUri());
    byte[] nextData = bytes(3 * MIB, 91);
    try (CachingOutputStream streamed =
        new CachingOutputStream(
            FileSystem.getLocalFileSystem().create(next, WriteMode.NO_OVERWRITE),
            "file:" + remote.resolve("after-the-failed-one"),
            labels,
            uploader,
            metrics)) {
      writeSome(streamed, nextData, 0, 2 * MIB);
      waitUntil("the agent received 1 MiB of the next file", agentHasReceived(agent, MIB));
      writeSome(streamed, nextData, 2 * MIB, nextData.length);
    }
    assertTrue(metrics.awaitUploadsIdle(WAIT));
    assertArrayEquals(
        nextData,
        Files.readAllBytes(agent.entryFile("file:" + remote.resolve("after-the-failed-one"))));
  }

  @Test
  void filesBeyondTheStreamSlotsAreUploadedAfterClose() throws Exception {
    fs = fileSystem(agent.address(), "async", 1);
    Path a = new Path("ckc:///ckpt/" + JOB + "/chk-5/a");
    Path b = new Path("ckc:///ckpt/" + JOB + "/chk-5/b");
    byte[] da = bytes(2 * MIB, 6);
    byte[] db = bytes(2 * MIB + 1, 7);
    try (FSDataOutputStream outA = fs.create(a, WriteMode.NO_OVERWRITE);
        FSDataOutputStream outB = fs.create(b, WriteMode.NO_OVERWRITE)) {
      writeSome(outA, da, 0, da.length);
      writeSome(outB, db, 0, db.length);
      // Only a has a stream slot; b waits for its close.
      waitUntil("the agent received 1 MiB of a", agentHasReceived(agent, MIB));
    }
    assertTrue(metrics.awaitUploadsIdle(WAIT));
    assertArrayEquals(da, Files.readAllBytes(agent.entryFile(key(a))));
    assertArrayEquals(db, Files.readAllBytes(agent.entryFile(key(b))));
    assertEquals(2, metrics.snapshot().uploadsSucceeded());
  }

  @Test
  void withNoStreamSlotsTheAgentReceivesNothingBeforeClose() throws Exception {
    fs = fileSystem(agent.address(), "async", 0);
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-6/after-close");
    byte[] data = bytes(3 * MIB, 8);
    try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
      writeSome(out, data, 0, data.length);
      // Nothing to wait for: the old path opens no Write before close.
      assertEquals(0, agent.stagedFiles());
    }
    assertTrue(metrics.awaitUploadsIdle(WAIT));
    assertArrayEquals(data, Files.readAllBytes(agent.entryFile(key(p))));
    assertEquals(1, metrics.snapshot().uploadsSucceeded());
  }
}
