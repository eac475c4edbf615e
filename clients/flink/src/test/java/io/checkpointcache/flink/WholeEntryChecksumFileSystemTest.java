package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.CheckpointCacheException;
import io.checkpointcache.client.ScriptedAgent;
import io.checkpointcache.v1.ReportCorruptRequest;
import io.grpc.Status;
import java.io.IOException;
import java.nio.file.Files;
import java.util.List;
import java.util.Random;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ckc:// reads of a cached copy whose chunks all verify but whose whole-entry CRC32C is not the
 * header's, served by the client's {@link ScriptedAgent} (the real agent refuses such entries).
 * Flink reads a file up to the length it knows and never asks for the end of the stream, so the
 * verdict has to come with the last byte.
 */
class WholeEntryChecksumFileSystemTest {
  private static final String JOB = "00000000000000000000000000000abc";

  @TempDir java.nio.file.Path tmp;
  private ScriptedAgent scripted;
  private FileSystem fs;
  private java.nio.file.Path remote;
  private final CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();

  @BeforeEach
  void start() throws IOException {
    scripted = ScriptedAgent.start();
    remote = Files.createDirectories(tmp.resolve("remote"));
    fs = ScriptedFileSystem.over(scripted, remote, tmp.resolve("spool"), "off");
    metrics.reset();
  }

  @AfterEach
  void stop() throws Exception {
    scripted.close();
  }

  /** The real file, and the key its cached copy has. */
  private String realFile(Path ckc, byte[] data) throws IOException {
    java.nio.file.Path real = remote.resolve(ckc.getPath().substring(1));
    Files.createDirectories(real.getParent());
    Files.write(real, data);
    return ((CheckpointCacheFileSystem) fs).cacheKey(ckc);
  }

  private byte[] read(Path p) throws IOException {
    try (FSDataInputStream in = fs.open(p)) {
      return in.readAllBytes();
    }
  }

  private static byte[] bytes(int size, long seed) {
    byte[] b = new byte[size];
    new Random(seed).nextBytes(b);
    return b;
  }

  @Test
  void aWrongCachedCopyFailsTheReadLoudlyIsReportedAndTheRetryReadsTheRealFile()
      throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-1/wrong-copy");
    byte[] data = bytes(700_000, 1);
    String key = realFile(p, data);
    byte[] cached = data.clone();
    cached[500_000] ^= 0x10;
    scripted.quarantineOnReport(true);
    scripted.put(key, cached, ScriptedAgent.crc32c(data));

    IOException e = assertThrows(IOException.class, () -> read(p));
    CheckpointCacheException dataLoss = (CheckpointCacheException) e;
    assertEquals(Status.Code.DATA_LOSS, dataLoss.code(), e.getMessage());
    List<ReportCorruptRequest> reports = scripted.awaitReports(1, 5_000);
    assertEquals(1, reports.size());
    assertEquals(ScriptedAgent.crc32c(cached), reports.get(0).getObservedCrc32C());
    assertFalse(scripted.holds(key), "the report quarantined the copy");

    // Flink's answer to a failed restore is to try again: now from the real file.
    assertArrayEquals(data, read(p));
    var s = metrics.snapshot();
    assertEquals(1, s.fallbacks("WHOLE_CHECKSUM_MISMATCH"));
    assertEquals(1, s.fallbacks("NOT_FOUND"));
  }

  @Test
  void rightBytesUnderAWrongEntryChecksumAreServedAfterTheRealFileConfirmsThem()
      throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-2/wrong-crc");
    byte[] data = bytes(400_000, 2);
    String key = realFile(p, data);
    scripted.put(key, data, ScriptedAgent.crc32c(data) + 1);

    assertArrayEquals(data, read(p));
    assertEquals(1, scripted.awaitReports(1, 5_000).size());
    var s = metrics.snapshot();
    assertEquals(data.length, s.bytesFromCache());
    assertEquals(1, s.fallbacks("WHOLE_CHECKSUM_MISMATCH"));
    assertTrue(metrics.reads().get(0).fallbackReason().equals("WHOLE_CHECKSUM_MISMATCH"));
  }
}
