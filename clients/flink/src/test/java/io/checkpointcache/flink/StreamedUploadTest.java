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
 * inferred from timing.
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
    FSDataOutputStream failing =
        new FSDataOutputStream() {
          private long pos;

          @Override
          public void write(int b) throws IOException {
            write(new byte[] {(byte) b}, 0, 1);
          }

          @Override
          public void write(byte[] b, int off, int len) throws IOException {
            if (pos + len > 3 * MIB) throw new IOException("disk full");
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
    assertTrue(metrics.awaitUploadsIdle(WAIT));
    var s = metrics.snapshot();
    assertEquals(0, s.uploadsSucceeded());
    assertEquals(1, s.uploadsCancelled());
    assertEquals(0, s.uploadsFailed());
    assertThrows(CheckpointCacheException.class, () -> client.stat(key, true));
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
