package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.ScriptedAgent;
import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fills in the upload queue: bounded, dropped and counted when the queue is half full, cancelled
 * by a delete through ckc://. The queue only stays occupied while an upload hangs, which the real
 * agent cannot be made to do, so the client's {@link ScriptedAgent} stalls it.
 */
class FillQueueTest {
  private static final String JOB = "00000000000000000000000000000f12";

  @TempDir java.nio.file.Path tmp;
  private ScriptedAgent scripted;
  private java.nio.file.Path remote;
  private FileSystem fs;
  private final CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();

  @BeforeEach
  void start() throws Exception {
    scripted = ScriptedAgent.start();
    remote = Files.createDirectories(tmp.resolve("remote"));
    // One upload thread and room for two waiting files: a fill is queued only while none waits.
    // No stream slots: the written file's upload must hold that thread (after close), not stream.
    fs =
        ScriptedFileSystem.over(
            scripted,
            remote,
            tmp.resolve("spool"),
            "async",
            Map.of(
                "checkpoint-cache.upload.threads", "1",
                "checkpoint-cache.upload.max-pending", "2",
                "checkpoint-cache.upload.streams", "0"));
    metrics.reset();
  }

  @AfterEach
  void stop() throws Exception {
    assertTrue(metrics.awaitUploadsIdle(Duration.ofSeconds(30)));
    scripted.close();
  }

  private static byte[] bytes(int size, long seed) {
    byte[] b = new byte[size];
    new Random(seed).nextBytes(b);
    return b;
  }

  private Path real(String name, byte[] data) throws IOException {
    java.nio.file.Path f = remote.resolve("ckpt/" + JOB + "/shared/" + name);
    Files.createDirectories(f.getParent());
    Files.write(f, data);
    return new Path("ckc:///ckpt/" + JOB + "/shared/" + name);
  }

  private void readWhole(Path p, byte[] expected) throws IOException {
    try (FSDataInputStream in = fs.open(p)) {
      assertArrayEquals(expected, in.readAllBytes());
    }
  }

  private static boolean awaitTrue(java.util.function.BooleanSupplier condition, Duration timeout)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) return false;
      Thread.sleep(5);
    }
    return true;
  }

  private String key(Path p) {
    return ((CheckpointCacheFileSystem) fs).cacheKey(p);
  }

  @Test
  void aFullQueueDropsFillsAndADeleteCancelsAQueuedOne() throws Exception {
    scripted.stallWrites(true);
    Path written = new Path("ckc:///ckpt/" + JOB + "/chk-1/hanging-upload");
    try (FSDataOutputStream out = fs.create(written, WriteMode.NO_OVERWRITE)) {
      out.write(bytes(8 * 1024 * 1024, 1));
    }
    assertTrue(scripted.awaitWriteStarted(10_000), "the upload holds the only upload thread");

    byte[] first = bytes(300_000, 2);
    byte[] second = bytes(200_000, 3);
    Path queued = real("queued", first);
    Path dropped = real("dropped", second);
    readWhole(queued, first);
    readWhole(dropped, second);
    // Both recordings reach the uploader from the recorder thread, in order.
    assertTrue(
        awaitTrue(
            () -> metrics.snapshot().fillsDropped() == 1 && metrics.snapshot().pendingUploads() == 2,
            Duration.ofSeconds(10)),
        "the second fill found the queue half full: " + metrics.snapshot());
    var s = metrics.snapshot();
    assertEquals(2, s.pendingUploads(), "the hanging upload and the queued fill");

    // Deleted through ckc:// while its fill waits: the fill is cancelled, not stored.
    assertTrue(fs.delete(queued, false));
    scripted.stallWrites(false);
    assertTrue(fs.delete(written, false), "frees the upload thread");
    assertTrue(metrics.awaitUploadsIdle(Duration.ofSeconds(5)), "the queue did not drain");
    s = metrics.snapshot();
    assertEquals(1, s.fillsCancelled());
    assertEquals(0, s.filesFilled());
    assertFalse(scripted.holds(key(queued)));
    assertFalse(scripted.holds(key(dropped)));

    // The queue is free again: the dropped file fills on its next read.
    readWhole(dropped, second);
    assertTrue(metrics.awaitUploadsIdle(Duration.ofSeconds(10)));
    assertEquals(1, metrics.snapshot().filesFilled());
    assertArrayEquals(second, scripted.bytes(key(dropped)));
  }
}
