package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.ScriptedAgent;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Random;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Uploads made stale while in flight: a file deleted, or overwritten, while its first version is
 * still being uploaded. The order that used to
 * lose the newer copy (the stale upload's answer, ALREADY_EXISTS, arriving after the newer one
 * was stored) depends on timing the real agent cannot be made to hold, so the client's
 * {@link ScriptedAgent} holds the first upload's answer, or stalls the upload's stream.
 */
class StaleUploadTest {
  private static final String JOB = "00000000000000000000000000000abc";

  @TempDir java.nio.file.Path tmp;
  private ScriptedAgent scripted;
  private FileSystem fs;
  private final CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();

  @BeforeEach
  void start() throws Exception {
    scripted = ScriptedAgent.start();
    fs =
        ScriptedFileSystem.over(
            scripted, Files.createDirectories(tmp.resolve("remote")), tmp.resolve("spool"), "async");
    metrics.reset();
  }

  @AfterEach
  void stop() throws Exception {
    assertTrue(metrics.awaitUploadsIdle(Duration.ofSeconds(30)));
    scripted.close();
  }

  private void write(Path p, byte[] data, WriteMode mode) throws Exception {
    try (FSDataOutputStream out = fs.create(p, mode)) {
      out.write(data);
    }
  }

  @Test
  void anUploadMadeStaleByAnOverwriteNeverReplacesTheNewerCopy() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-1/overwritten-while-uploading");
    String key = ((CheckpointCacheFileSystem) fs).cacheKey(p);
    byte[] first = new byte[300_000];
    byte[] second = new byte[200_000];
    new Random(1).nextBytes(first);
    new Random(2).nextBytes(second);
    scripted.holdFirstWriteOf(key, 2_000);

    write(p, first, WriteMode.NO_OVERWRITE);
    assertTrue(scripted.awaitHeldWrite(10_000), "the first upload reached the agent");
    write(p, second, WriteMode.OVERWRITE);
    assertTrue(metrics.awaitUploadsIdle(Duration.ofSeconds(30)));

    assertArrayEquals(second, scripted.bytes(key), "the cache holds the newer version");
  }

  @Test
  void deletingAFileStopsItsUploadAtOnce() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-2/deleted-while-uploading");
    String key = ((CheckpointCacheFileSystem) fs).cacheKey(p);
    scripted.stallWrites(true);
    byte[] data = new byte[8 * 1024 * 1024];
    new Random(3).nextBytes(data);
    write(p, data, WriteMode.NO_OVERWRITE);
    assertTrue(scripted.awaitWriteStarted(10_000), "the upload reached the agent");

    assertTrue(fs.delete(p, false));
    // Not after the idle timeout (30 s): the upload thread and the key are free at once.
    assertTrue(metrics.awaitUploadsIdle(Duration.ofSeconds(5)), "the upload did not stop");
    var s = metrics.snapshot();
    assertEquals(1, s.uploadsCancelled());
    assertEquals(0, s.uploadsFailed());
    assertFalse(scripted.holds(key));
  }
}
