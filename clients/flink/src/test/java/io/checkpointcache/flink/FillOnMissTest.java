package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.CheckpointCacheException;
import io.checkpointcache.flink.job.ThrottledFileSystemFactory;
import io.checkpointcache.v1.EntryInfo;
import io.grpc.Status;
import java.io.DataInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataInputStream;
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
 * Fill on miss against a real agent: a file read whole from the real file system is cached from
 * the bytes the read delivered, and the next read is local. The real file system is the local
 * directory {@code remote} seen through {@code slowfile://} (unpaced), which counts the bytes
 * read from it, so the tests can tell that neither the fill nor the second read read it again.
 */
class FillOnMissTest {
  private static final int MIB = 1024 * 1024;
  private static final String JOB = "00000000000000000000000000000f11";

  @RegisterExtension static final SharedTestAgent SHARED = new SharedTestAgent();
  private static java.nio.file.Path tmp;
  private static TestAgent agent;
  private static CheckpointCacheClient client;

  private java.nio.file.Path remote;
  private FileSystem fs;
  private final CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();

  @BeforeAll
  static void shared() {
    // Loads slowfile:// (a factory on the test class path) into Flink's file systems.
    FileSystem.initialize(new Configuration(), null);
    tmp = SHARED.dir();
    agent = SHARED.agent();
    client = SHARED.client();
  }

  @BeforeEach
  void newRemote() throws IOException {
    remote = Files.createTempDirectory(tmp, "remote-");
    fs = fileSystem(agent.address(), "async", true);
    metrics.reset();
  }

  @AfterEach
  void uploadsDone() throws InterruptedException {
    assertTrue(metrics.awaitUploadsIdle(Duration.ofSeconds(30)));
  }

  private FileSystem fileSystem(String agentAddress, String upload, boolean fillOnMiss)
      throws IOException {
    return SHARED.fileSystem(
        agentAddress,
        "slowfile://" + remote.toUri().getPath(),
        Map.of(
            "checkpoint-cache.upload", upload,
            "checkpoint-cache.fill-on-miss", String.valueOf(fillOnMiss)));
  }

  private static byte[] bytes(int size, long seed) {
    return SharedTestAgent.bytes(size, seed);
  }

  /** Writes {@code data} to the real file behind {@code ckc}, past the plugin (not cached). */
  private java.nio.file.Path writeReal(Path ckc, byte[] data) throws IOException {
    java.nio.file.Path real = remote.resolve(ckc.toUri().getPath().substring(1));
    Files.createDirectories(real.getParent());
    return Files.write(real, data);
  }

  private byte[] read(Path p) throws IOException {
    try (FSDataInputStream in = fs.open(p)) {
      return in.readAllBytes();
    }
  }

  private String key(Path ckc) {
    return ((CheckpointCacheFileSystem) fs).cacheKey(ckc);
  }

  private void awaitUploads() throws InterruptedException {
    assertTrue(metrics.awaitUploadsIdle(Duration.ofSeconds(30)), "uploads did not finish");
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

  private static int crc32c(byte[] data) {
    CRC32C crc = new CRC32C();
    crc.update(data);
    return (int) crc.getValue();
  }

  @Test
  void aFileReadWholeFromTheRealFileSystemIsFilledAndTheNextReadIsLocal() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/shared/sst-1");
    byte[] data = bytes(3 * MIB + 5, 1);
    writeReal(p, data);
    long remoteBefore = ThrottledFileSystemFactory.bytesRead();

    // Some single-byte reads first, as Flink's DataInputView makes them.
    try (FSDataInputStream in = fs.open(p)) {
      DataInputStream view = new DataInputStream(in);
      byte[] got = new byte[data.length];
      for (int i = 0; i < 10; i++) got[i] = view.readByte();
      view.readFully(got, 10, data.length - 10);
      assertArrayEquals(data, got);
    }
    awaitUploads();
    var s = metrics.snapshot();
    assertEquals(1, s.fallbacks("NOT_FOUND"));
    assertEquals(data.length, s.bytesFromRemote());
    assertEquals(1, s.filesFilled());
    assertEquals(data.length, s.filledBytes());
    assertEquals(0, s.uploadsSucceeded(), "a fill is not counted as an upload");
    EntryInfo entry = client.stat(key(p), true);
    assertEquals(data.length, entry.getSize());
    assertEquals(crc32c(data), entry.getCrc32C());
    assertEquals(JOB, entry.getJobId(), "labelled from the path, as a written file is");
    assertEquals(
        data.length,
        ThrottledFileSystemFactory.bytesRead() - remoteBefore,
        "the fill did not read the real file again");

    metrics.reset();
    assertArrayEquals(data, read(p));
    s = metrics.snapshot();
    assertEquals(data.length, s.bytesFromCache());
    assertEquals(0, s.bytesFromRemote());
    assertEquals(0, s.totalFallbacks());
    assertEquals(
        data.length,
        ThrottledFileSystemFactory.bytesRead() - remoteBefore,
        "the second read did not touch the real file");
    awaitUploads();
    assertEquals(0, metrics.snapshot().filesFilled(), "a hit fills nothing");
  }

  @Test
  void partReadsAndCacheHitsFillNothing() throws Exception {
    Path head = new Path("ckc:///ckpt/" + JOB + "/chk-1/head-only");
    Path tail = new Path("ckc:///ckpt/" + JOB + "/chk-1/tail-only");
    Path skipped = new Path("ckc:///ckpt/" + JOB + "/chk-1/skipped-over");
    byte[] data = bytes(MIB, 2);
    for (Path p : List.of(head, tail, skipped)) writeReal(p, data);

    try (FSDataInputStream in = fs.open(head)) {
      assertArrayEquals(Arrays.copyOf(data, MIB / 2), in.readNBytes(MIB / 2));
    }
    try (FSDataInputStream in = fs.open(tail)) {
      in.seek(MIB / 2);
      assertArrayEquals(Arrays.copyOfRange(data, MIB / 2, MIB), in.readAllBytes());
    }
    try (FSDataInputStream in = fs.open(skipped)) {
      in.readNBytes(1000);
      in.seek(2000);
      in.readAllBytes();
    }
    Path hit = new Path("ckc:///ckpt/" + JOB + "/chk-1/written");
    try (FSDataOutputStream out = fs.create(hit, WriteMode.NO_OVERWRITE)) {
      out.write(data);
    }
    awaitUploads();
    metrics.reset();
    assertArrayEquals(data, read(hit));
    awaitUploads();

    assertEquals(0, metrics.snapshot().filesFilled());
    for (Path p : List.of(head, tail, skipped)) assertFalse(cached(p), p.toString());
    try (var spool = Files.list(tmp.resolve("spool"))) {
      for (java.nio.file.Path dir : (Iterable<java.nio.file.Path>) spool::iterator) {
        try (var files = Files.list(dir)) {
          assertEquals(0, files.count(), "recordings of reads that fill nothing are removed");
        }
      }
    }
  }

  @Test
  void aStaleCopyIsReplacedByAFillOfTheCurrentFile() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-2/replaced");
    try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
      out.write(bytes(MIB, 3));
    }
    awaitUploads();
    byte[] replaced = bytes(MIB + 100, 4);
    writeReal(p, replaced);
    metrics.reset();

    assertArrayEquals(replaced, read(p));
    awaitUploads();
    var s = metrics.snapshot();
    assertEquals(1, s.fallbacks("STALE_ENTRY"));
    assertEquals(1, s.filesFilled());
    assertEquals(crc32c(replaced), client.stat(key(p), true).getCrc32C());

    metrics.reset();
    assertArrayEquals(replaced, read(p));
    assertEquals(replaced.length, metrics.snapshot().bytesFromCache());
  }

  @Test
  void aCopyCorruptInItsFirstBlockIsReplacedByAFill() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/shared/corrupt-at-start");
    byte[] data = bytes(2 * MIB, 9);
    try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
      out.write(data);
    }
    awaitUploads();
    agent.corrupt(key(p), 7);
    metrics.reset();

    // The agent finds the bad block before sending a byte, quarantines the copy, answers
    // DATA_LOSS: the whole file comes from the real file system, and is filled.
    assertArrayEquals(data, read(p));
    awaitUploads();
    var s = metrics.snapshot();
    assertEquals(1, s.fallbacks("DATA_LOSS"));
    assertEquals(data.length, s.bytesFromRemote());
    assertEquals(1, s.filesFilled());

    metrics.reset();
    assertArrayEquals(data, read(p));
    assertEquals(data.length, metrics.snapshot().bytesFromCache());
    assertEquals(0, metrics.snapshot().bytesFromRemote());
  }

  @Test
  void aFileChangedBeforeItsFillRunsIsNotFilled() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-3/changing");
    byte[] data = bytes(MIB, 5);
    java.nio.file.Path real = writeReal(p, data);
    try (FSDataInputStream in = fs.open(p)) {
      assertArrayEquals(data, in.readAllBytes());
      // Replaced by a file of the same length while the read was open (the fill, queued at
      // close, checks the real file's status first).
      Files.write(real, bytes(MIB, 6));
      Files.setLastModifiedTime(
          real, FileTime.fromMillis(Files.getLastModifiedTime(real).toMillis() + 5_000));
    }
    awaitUploads();
    var s = metrics.snapshot();
    assertEquals(0, s.filesFilled());
    assertEquals(1, s.fillsCancelled());
    assertFalse(cached(p));
  }

  @Test
  void noFillWhenTurnedOffOrWhenNothingIsUploaded() throws Exception {
    Path off = new Path("ckc:///ckpt/" + JOB + "/chk-4/fill-off");
    Path noUpload = new Path("ckc:///ckpt/" + JOB + "/chk-4/upload-off");
    byte[] data = bytes(MIB, 7);
    writeReal(off, data);
    writeReal(noUpload, data);

    fs = fileSystem(agent.address(), "async", false);
    assertArrayEquals(data, read(off));
    fs = fileSystem(agent.address(), "off", true);
    assertArrayEquals(data, read(noUpload));
    awaitUploads();

    assertEquals(0, metrics.snapshot().filesFilled());
    assertFalse(cached(off));
    assertFalse(cached(noUpload));
  }

  @Test
  void aFillTheAgentRefusesIsCountedAndTheReadIsUnaffected() throws Exception {
    // Over TCP the agent serves reads but refuses writes (its default --write-access socket).
    fs = fileSystem(agent.tcpAddress(), "async", true);
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-5/refused");
    byte[] data = bytes(MIB, 8);
    writeReal(p, data);

    assertArrayEquals(data, read(p));
    awaitUploads();
    var s = metrics.snapshot();
    assertEquals(data.length, s.bytesFromRemote());
    assertEquals(0, s.filesFilled());
    assertEquals(1, s.fillsFailed());
    assertFalse(cached(p));
  }
}
