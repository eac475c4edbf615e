package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.CheckpointCacheException;
import io.checkpointcache.v1.EntryInfo;
import io.grpc.Status;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.zip.CRC32C;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The ckc:// file system against a real agent, over a local directory standing in for HDFS. */
class CheckpointCacheFileSystemTest {
  private static final int MIB = 1024 * 1024;
  private static final String JOB = "00000000000000000000000000000abc";

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
    fs = fileSystem(agent.address(), "async");
    metrics.reset();
  }

  @AfterEach
  void uploadsDone() throws InterruptedException {
    assertTrue(metrics.awaitUploadsIdle(Duration.ofSeconds(30)));
  }

  private FileSystem fileSystem(String agentAddress, String upload) throws IOException {
    return fileSystem(agentAddress, upload, true);
  }

  private FileSystem fileSystem(String agentAddress, String upload, boolean enabled)
      throws IOException {
    return fileSystem(agentAddress, upload, enabled, null);
  }

  private FileSystem fileSystem(
      String agentAddress, String upload, boolean enabled, java.nio.file.Path cacheDir)
      throws IOException {
    CheckpointCacheFileSystemFactory factory = new CheckpointCacheFileSystemFactory();
    factory.configure(fileSystemConfig(agentAddress, upload, enabled, cacheDir));
    return factory.create(URI.create("ckc:///"));
  }

  /** The configuration {@link #fileSystem} configures the plugin with. */
  private Configuration fileSystemConfig(
      String agentAddress, String upload, boolean enabled, java.nio.file.Path cacheDir) {
    Configuration c = new Configuration();
    if (cacheDir != null) {
      c.setString("checkpoint-cache.cache-dir", cacheDir.toString());
      // WarmUpOnStartTest tests it; here it would run once, on its own thread, writing below a
      // spool directory this class deletes when it ends.
      c.setString("checkpoint-cache.warm-up", "false");
    }
    c.setString("checkpoint-cache.target", remote.toUri().toString());
    c.setString("checkpoint-cache.agent", agentAddress);
    c.setString("checkpoint-cache.upload", upload);
    c.setString("checkpoint-cache.enabled", String.valueOf(enabled));
    c.setString("checkpoint-cache.spool-dir", tmp.resolve("spool").toString());
    c.setString("checkpoint-cache.first-message-timeout", "1 s");
    return c;
  }


  private static byte[] bytes(int size, long seed) {
    return SharedTestAgent.bytes(size, seed);
  }

  private void write(Path p, byte[] data) throws IOException {
    write(p, data, WriteMode.NO_OVERWRITE);
  }

  private void write(Path p, byte[] data, WriteMode mode) throws IOException {
    try (FSDataOutputStream out = fs.create(p, mode)) {
      // Uneven writes, as Flink's buffered state streams make them.
      for (int off = 0; off < data.length; ) {
        int n = Math.min(data.length - off, 1 + (off % 70_000));
        out.write(data, off, n);
        off += n;
      }
    }
  }

  private byte[] read(Path p) throws IOException {
    try (FSDataInputStream in = fs.open(p)) {
      return in.readAllBytes();
    }
  }

  private String key(Path ckc) {
    return ((CheckpointCacheFileSystem) fs).cacheKey(ckc);
  }

  private static int crc32c(byte[] data) {
    CRC32C crc = new CRC32C();
    crc.update(data);
    return (int) crc.getValue();
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

  @Test
  void aWrittenFileIsOnTheRealFileSystemAndCachedWithItsLabels() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-7/3f2a-state");
    byte[] data = bytes(3 * MIB + 17, 1);
    write(p, data);
    assertArrayEquals(data, Files.readAllBytes(remote.resolve("ckpt/" + JOB + "/chk-7/3f2a-state")));
    awaitUploads();

    EntryInfo entry = client.stat(key(p), true);
    CRC32C crc = new CRC32C();
    crc.update(data);
    assertEquals(data.length, entry.getSize());
    assertEquals((int) crc.getValue(), entry.getCrc32C());
    assertEquals(JOB, entry.getJobId());
    assertEquals(List.of(7L), entry.getCheckpointIdsList());
    assertEquals("file:" + remote.resolve("ckpt/" + JOB + "/chk-7/3f2a-state"), key(p));

    var s = metrics.snapshot();
    assertEquals(1, s.filesWritten());
    assertEquals(data.length, s.bytesWritten());
    assertEquals(1, s.uploadsSucceeded());
    assertEquals(data.length, s.uploadedBytes());
  }

  @Test
  void readsComeFromTheCache() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-1/a");
    byte[] data = bytes(5 * MIB, 2);
    write(p, data);
    awaitUploads();

    assertArrayEquals(data, read(p));
    var s = metrics.snapshot();
    assertEquals(data.length, s.bytesFromCache());
    assertEquals(0, s.bytesFromRemote());
    assertEquals(0, s.totalFallbacks());
    CheckpointCacheMetrics.ReadRecord r = metrics.reads().get(0);
    assertEquals(key(p), r.key());
    assertEquals(null, r.fallbackReason());
  }

  @Test
  void seeksSkipsAndTheEndOfTheFile() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-1/seek");
    byte[] data = bytes(2 * MIB + 5, 3);
    write(p, data);
    awaitUploads();
    Random random = new Random(4);
    try (FSDataInputStream in = fs.open(p)) {
      for (int i = 0; i < 20; i++) {
        int off = random.nextInt(data.length);
        int len = Math.min(data.length - off, random.nextInt(300_000));
        in.seek(off);
        assertEquals(off, in.getPos());
        byte[] got = in.readNBytes(len);
        assertArrayEquals(Arrays.copyOfRange(data, off, off + len), got, "at " + off);
      }
      in.seek(10);
      assertEquals(100, in.skip(100));
      assertEquals(data[110] & 0xff, in.read());
      in.seek(data.length);
      assertEquals(-1, in.read());
      assertEquals(-1, in.read(new byte[4], 0, 4));
      assertThrows(IOException.class, () -> in.seek(data.length + 1L));
    }
    assertEquals(0, metrics.snapshot().bytesFromRemote());
  }

  @Test
  void aFileTheCacheDoesNotHoldIsReadFromTheRealFileSystem() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-2/written-elsewhere");
    byte[] data = bytes(MIB + 1, 5);
    java.nio.file.Path real = remote.resolve("ckpt/" + JOB + "/chk-2/written-elsewhere");
    Files.createDirectories(real.getParent());
    Files.write(real, data);

    assertArrayEquals(data, read(p));
    var s = metrics.snapshot();
    assertEquals(0, s.bytesFromCache());
    assertEquals(data.length, s.bytesFromRemote());
    assertEquals(1, s.fallbacks("NOT_FOUND"));
  }

  @Test
  void aCorruptCachedCopyFallsBackAtTheBadByte() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-3/corrupt");
    byte[] data = bytes(4 * MIB, 6);
    write(p, data);
    awaitUploads();
    agent.corrupt(key(p), 3L * MIB + 7);

    assertArrayEquals(data, read(p));
    var s = metrics.snapshot();
    assertEquals(1, s.fallbacks("DATA_LOSS"));
    assertTrue(s.bytesFromCache() >= 3L * MIB - 256 * 1024, "cache served the good blocks");
    assertEquals(data.length, s.bytesFromCache() + s.bytesFromRemote());
    assertFalse(cached(p), "the agent quarantined the corrupt copy");
  }

  @Test
  void deletesRemoveCachedCopiesOfFilesAndDirectories() throws Exception {
    Path a = new Path("ckc:///ckpt/" + JOB + "/chk-1/a");
    Path b = new Path("ckc:///ckpt/" + JOB + "/chk-1/b");
    Path c = new Path("ckc:///ckpt/" + JOB + "/chk-10/c");
    Path d = new Path("ckc:///ckpt/" + JOB + "/shared/d");
    Path e = new Path("ckc:///other/e");
    for (Path p : List.of(a, b, c, d, e)) write(p, bytes(100_000, p.hashCode()));
    awaitUploads();
    for (Path p : List.of(a, b, c, d, e)) assertTrue(cached(p), p.toString());

    assertTrue(fs.delete(new Path("ckc:///ckpt/" + JOB + "/chk-1"), true));
    assertFalse(cached(a));
    assertFalse(cached(b));
    assertTrue(cached(c), "chk-10 is not below chk-1");
    assertFalse(Files.exists(remote.resolve("ckpt/" + JOB + "/chk-1")));

    assertTrue(fs.delete(d, false));
    assertFalse(cached(d));
    assertFalse(Files.exists(remote.resolve("ckpt/" + JOB + "/shared/d")));

    // A directory outside Flink's layout: every entry is checked against the prefix.
    assertTrue(fs.delete(new Path("ckc:///ckpt"), true));
    assertFalse(cached(c));
    assertTrue(cached(e));
  }

  @Test
  void aDeleteCancelsAnUploadInFlight() throws Exception {
    FileSystem slow = fs;
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-4/discarded");
    write(p, bytes(8 * MIB, 7));
    // Flink discards a checkpoint stream by closing it and deleting the file at once.
    assertTrue(slow.delete(p, false));
    awaitUploads();
    assertFalse(cached(p));
  }

  @Test
  void overwritingAFileReplacesItsCachedCopy() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-5/rewritten");
    write(p, bytes(MIB, 8));
    awaitUploads();
    byte[] second = bytes(MIB / 2, 9);
    write(p, second, WriteMode.OVERWRITE);
    awaitUploads();
    assertArrayEquals(second, read(p));
    assertEquals(0, metrics.snapshot().bytesFromRemote());
  }

  @Test
  void aCachedCopyOfAnotherLengthIsNeverServedAndIsDropped() throws Exception {
    for (int size : new int[] {MIB / 2, 3 * MIB}) {
      Path p = new Path("ckc:///ckpt/" + JOB + "/chk-12/replaced-" + size);
      write(p, bytes(MIB, 20));
      awaitUploads();
      // Replaced behind the plugin's back: shorter (the old copy would be served cut short) or
      // longer (it would end early, and a seek past its end would be INVALID_ARGUMENT).
      byte[] replaced = bytes(size, 21);
      Files.write(remote.resolve("ckpt/" + JOB + "/chk-12/replaced-" + size), replaced);
      metrics.reset();

      assertArrayEquals(replaced, read(p), "size " + size);
      assertEquals(1, metrics.snapshot().fallbacks("STALE_ENTRY"));
      assertEquals(0, metrics.snapshot().bytesFromCache());
      // Dropped, and (fill on miss) replaced by the file the read got from the real file system.
      awaitUploads();
      assertEquals(crc32c(replaced), client.stat(key(p), true).getCrc32C(), "size " + size);
    }
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-12/seek-past-old-end");
    write(p, bytes(MIB, 22));
    awaitUploads();
    byte[] longer = bytes(2 * MIB, 23);
    Files.write(remote.resolve("ckpt/" + JOB + "/chk-12/seek-past-old-end"), longer);
    try (FSDataInputStream in = fs.open(p)) {
      in.seek(MIB + 100);
      byte[] got = in.readNBytes(1000);
      assertArrayEquals(Arrays.copyOfRange(longer, MIB + 100, MIB + 1100), got);
    }
  }

  @Test
  void aCachedCopyOlderThanTheRealFileIsNeverServed() throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-13/same-length");
    write(p, bytes(MIB, 24));
    awaitUploads();
    java.nio.file.Path real = remote.resolve("ckpt/" + JOB + "/chk-13/same-length");
    byte[] replaced = bytes(MIB, 25);
    Files.write(real, replaced);
    // Changed well after the copy was made (beyond the default 10 s of clock skew).
    Files.setLastModifiedTime(
        real,
        java.nio.file.attribute.FileTime.fromMillis(
            client.stat(key(p), true).getCreatedAtMs() + 60_000));
    metrics.reset();

    assertArrayEquals(replaced, read(p));
    assertEquals(1, metrics.snapshot().fallbacks("STALE_ENTRY"));
    awaitUploads();
    // Not filled either: a copy made now would look older than the file's future mtime.
    assertEquals(1, metrics.snapshot().fillsCancelled());
    assertFalse(cached(p), "the stale copy was dropped");
  }

  @Test
  void renamesDropTheCachedCopies() throws Exception {
    Path src = new Path("ckc:///tmp-files/x");
    Path dst = new Path("ckc:///final/x");
    write(src, bytes(200_000, 10));
    awaitUploads();
    assertTrue(fs.mkdirs(new Path("ckc:///final")));
    assertTrue(fs.rename(src, dst));
    assertFalse(cached(src));
    assertFalse(cached(dst));
    assertArrayEquals(bytes(200_000, 10), read(dst));
  }

  @Test
  void statusAndListingsNameFilesByTheirCkcPaths() throws Exception {
    Path dir = new Path("ckc:///ckpt/" + JOB + "/chk-6");
    write(new Path(dir, "f1"), bytes(10, 11));
    write(new Path(dir, "f2"), bytes(20, 12));
    FileStatus[] listed = fs.listStatus(dir);
    Arrays.sort(listed, (x, y) -> x.getPath().toString().compareTo(y.getPath().toString()));
    assertEquals(2, listed.length);
    assertEquals(new Path("ckc:///ckpt/" + JOB + "/chk-6/f1"), listed[0].getPath());
    assertEquals(20, listed[1].getLen());
    FileStatus st = fs.getFileStatus(dir);
    assertTrue(st.isDir());
    assertEquals(dir, st.getPath());
    assertTrue(fs.exists(new Path(dir, "f1")));
    assertFalse(fs.exists(new Path(dir, "nope")));
    assertThrows(java.io.FileNotFoundException.class, () -> fs.open(new Path(dir, "nope")));
    assertEquals(1, fs.getFileBlockLocations(listed[0], 0, 10).length);
  }

  @Test
  void syncUploadsAreCachedWhenCloseReturns() throws Exception {
    fs = fileSystem(agent.address(), "sync");
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-8/sync");
    write(p, bytes(MIB, 13));
    assertEquals(0, metrics.snapshot().pendingUploads());
    assertTrue(cached(p));
  }

  @Test
  void withTheAgentDownWritesSucceedAndReadsComeFromTheRealFileSystem() throws Exception {
    fs = fileSystem("unix:" + tmp.resolve("no-agent.sock"), "async");
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-9/no-agent");
    byte[] data = bytes(MIB, 14);
    write(p, data);
    awaitUploads();
    assertEquals(1, metrics.snapshot().uploadsFailed());
    assertArrayEquals(data, read(p));
    var s = metrics.snapshot();
    assertEquals(data.length, s.bytesFromRemote());
    assertEquals(1, s.fallbacks("UNAVAILABLE"));
    assertTrue(fs.delete(p, false), "deletes pass through although the cache cannot be reached");
  }

  @Test
  void aMountedCacheDirectoryMakesReadsShortCircuit() throws Exception {
    // The TaskManager's mount of the node's cache directory, elsewhere than the agent's path.
    java.nio.file.Path mount =
        Files.createSymbolicLink(
            tmp.resolve("mount-" + System.nanoTime()), agent.home().resolve("cache"));
    fs = fileSystem(agent.address(), "async", true, mount);
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-12/direct");
    byte[] data = bytes(3 * MIB + 11, 16);
    write(p, data);
    awaitUploads();
    assertTrue(cached(p));

    assertArrayEquals(data, read(p));
    try (FSDataInputStream in = fs.open(p)) {
      in.seek(MIB + 1);
      byte[] some = new byte[1000];
      in.readNBytes(some, 0, some.length);
      assertArrayEquals(Arrays.copyOfRange(data, MIB + 1, MIB + 1001), some);
    }
    var s = metrics.snapshot();
    assertEquals(data.length + 1000, s.bytesFromCache());
    assertEquals(0, s.bytesFromRemote());
    // The file system's own connection: the same settings give the same one.
    var settings =
        CheckpointCacheSettings.from(
            fileSystemConfig(agent.address(), "async", true, mount), java.util.Map.of());
    var stats = ((AgentCacheAccess) CacheConnection.forSettings(settings).cache).client.stats();
    assertEquals(data.length + 1000, stats.bytesShortCircuit(), "read from the file directly");
    assertEquals(0, stats.shortCircuitMisses());
  }

  @Test
  void whenDisabledCkcIsAPlainAlias() throws Exception {
    fs = fileSystem(agent.address(), "async", false);
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-11/plain");
    byte[] data = bytes(MIB, 15);
    write(p, data);
    assertArrayEquals(data, read(p));
    assertFalse(cached(p));
    assertEquals(data.length, metrics.snapshot().bytesFromRemote());
  }

  /**
   * Byte by byte, failing at 1,000 bytes (the file never grew past upload.batch-max-bytes, so it
   * has no upload yet) and at 70,000 (it took a stream slot past 64 KiB: that upload is aborted).
   */
  @Test
  void aFileWhoseRealWriteFailedIsNeverCached() throws Exception {
    CacheConnection connection = CacheConnection.forSettings(settingsOf(agent.address()));
    for (int failAt : new int[] {1000, 70_000}) {
      String key = "file:" + remote.resolve("failed-at-" + failAt);
      FSDataOutputStream failing =
          new FSDataOutputStream() {
            private long pos;

            @Override
            public void write(int b) throws IOException {
              if (++pos > failAt) throw new IOException("disk full");
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
      assertThrows(IOException.class, () -> {
        for (int i = 0; i < 2 * failAt; i++) out.write(i);
      });
      out.close();
      awaitUploads();
      assertThrows(CheckpointCacheException.class, () -> client.stat(key, true));
    }
    var s = metrics.snapshot();
    assertEquals(0, s.uploadsSucceeded());
    assertEquals(1, s.uploadsCancelled(), "the streamed one");
    assertEquals(0, s.uploadsFailed());
    try (var spool = Files.list(tmp.resolve("spool"))) {
      for (java.nio.file.Path dir : (Iterable<java.nio.file.Path>) spool::iterator) {
        try (var files = Files.list(dir)) {
          assertEquals(0, files.count(), "spool files are removed");
        }
      }
    }
  }

  private CheckpointCacheSettings settingsOf(String agentAddress) {
    Configuration c = new Configuration();
    c.setString("checkpoint-cache.target", remote.toUri().toString());
    c.setString("checkpoint-cache.agent", agentAddress);
    c.setString("checkpoint-cache.spool-dir", tmp.resolve("spool").toString());
    return CheckpointCacheSettings.from(c, java.util.Map.of());
  }
}
