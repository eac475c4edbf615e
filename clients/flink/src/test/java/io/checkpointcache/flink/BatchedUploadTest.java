package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.CheckpointCacheException;
import io.checkpointcache.client.CheckpointReadStream;
import io.checkpointcache.client.ScriptedAgent;
import io.grpc.Status;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestWatcher;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Small files copied after close ({@code upload.streams: 0}, ASYNC) that wait for the upload
 * thread together go to the agent in one WriteBatch ({@code upload.batch-max-bytes}), against
 * real agents with packing on and off, with every guarantee of single uploads: each file cached
 * whole, a file deleted through ckc:// before its copy never stored, a file deleted behind the
 * plugin's back removed again once committed, a larger file sent on its own, batching off, and
 * an agent without WriteBatch (the client's single Writes). And with the default stream slots
 * ({@code upload.streams: 4}): a small file takes none (it is copied after close and can join a
 * batch), a file past the batch size streams, and small files written one after another by a few
 * threads go through WriteBatch without any gate. The target is {@code gatedfile://}: its gate
 * holds the one upload thread, so the test, not a race, decides which files wait together.
 */
class BatchedUploadTest {
  private static final String JOB = "00000000000000000000000000000bac";
  private static final Duration WAIT = Duration.ofSeconds(60);
  private static final List<String> METRICS = List.of("--metrics-listen", "127.0.0.1:0");

  @TempDir java.nio.file.Path dir;
  private java.nio.file.Path remote;
  private TestAgent agent;
  private CheckpointCacheClient client;
  private FileSystem fs;
  private final CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();

  @RegisterExtension
  final TestWatcher agentLogOnFailure =
      new TestWatcher() {
        @Override
        public void testFailed(ExtensionContext context, Throwable cause) {
          if (agent != null) System.out.println("agent log:\n" + agent.logTail());
        }
      };

  @BeforeEach
  void dirs() throws IOException {
    remote = Files.createDirectories(dir.resolve("remote"));
    metrics.reset();
  }

  @AfterEach
  void stop() throws Exception {
    GatedFileSystemFactory.open();
    assertTrue(metrics.awaitUploadsIdle(WAIT));
    if (client != null) client.close();
    if (agent != null) agent.stop();
  }

  private void startAgent(List<String> args) throws Exception {
    agent = TestAgent.start(dir, args);
    client = agent.client();
  }

  /** ASYNC, every file after close, one upload thread; {@code more} adds or replaces settings. */
  private FileSystem fileSystem(String agentAddress, Map<String, String> more) throws IOException {
    Configuration c = new Configuration();
    c.setString("checkpoint-cache.target", GatedFileSystemFactory.SCHEME + "://" + remote.toUri().getPath());
    c.setString("checkpoint-cache.agent", agentAddress);
    c.setString("checkpoint-cache.upload", "async");
    c.setString("checkpoint-cache.upload.streams", "0");
    c.setString("checkpoint-cache.upload.threads", "1");
    c.setString("checkpoint-cache.spool-dir", dir.resolve("spool").toString());
    more.forEach(c::setString);
    CheckpointCacheFileSystemFactory factory = new CheckpointCacheFileSystemFactory();
    factory.configure(c);
    return factory.create(URI.create("ckc:///"));
  }

  private static Path path(String name) {
    return new Path("ckc:///ckpt/" + JOB + "/chk-1/" + name);
  }

  private java.nio.file.Path real(String name) {
    return remote.resolve("ckpt/" + JOB + "/chk-1/" + name);
  }

  private void write(Path p, byte[] data) throws IOException {
    try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
      out.write(data);
    }
  }

  /** The upload thread, held at the gate until the test opens it: files written now wait. */
  private void holdUploadThread() throws Exception {
    GatedFileSystemFactory.close();
    write(path(GatedFileSystemFactory.GATE + "file"), new byte[] {1, 2, 3});
    assertTrue(GatedFileSystemFactory.awaitHeld(30), "the upload thread reached the gate");
  }

  private String key(Path p) {
    return ((CheckpointCacheFileSystem) fs).cacheKey(p);
  }

  private boolean cached(Path p) throws CheckpointCacheException {
    try {
      client.stat(key(p), true);
      return true;
    } catch (CheckpointCacheException e) {
      if (e.code() == Status.Code.NOT_FOUND) return false;
      throw e;
    }
  }

  private byte[] cachedBytes(Path p) throws IOException {
    try (CheckpointReadStream in = client.open(key(p), null)) {
      return in.readAllBytes();
    }
  }

  @ParameterizedTest(name = "agent packing small entries: {0}")
  @ValueSource(booleans = {false, true})
  void smallFilesWaitingTogetherAreCachedThroughOneWriteBatch(boolean packed) throws Exception {
    List<String> args = new ArrayList<>(METRICS);
    if (packed) args.addAll(List.of("--pack-max-bytes", "64KiB"));
    startAgent(args);
    fs = fileSystem(agent.address(), Map.of());
    holdUploadThread();

    Random random = new Random(packed ? 11 : 12);
    Map<Path, byte[]> kept = new LinkedHashMap<>();
    List<Path> deletedThroughPlugin = new ArrayList<>();
    List<Path> deletedBehindPlugin = new ArrayList<>();
    int files = 100;
    for (int i = 0; i < files; i++) {
      // 1 byte to exactly the threshold (64 KiB), 3.4 MiB in all: one call's worth.
      int size = i == 1 ? 1 : i == 2 ? 64 * 1024 : 1 + random.nextInt(64 * 1024);
      byte[] data = SharedTestAgent.bytes(size, 1000 + i);
      Path p = path("small-" + i);
      write(p, data);
      if (i % 25 == 5) {
        // Flink discards a checkpoint stream by closing it and deleting the file at once.
        assertTrue(fs.delete(p, false));
        deletedThroughPlugin.add(p);
      } else if (i % 25 == 7) {
        // The JobManager's delete, from another process: the plugin learns of it only by asking.
        Files.delete(real("small-" + i));
        deletedBehindPlugin.add(p);
      } else {
        kept.put(p, data);
      }
    }
    Path large = path("large");
    byte[] largeData = SharedTestAgent.bytes(64 * 1024 + 1, 3);
    write(large, largeData);
    assertEquals(files + 2, metrics.snapshot().pendingUploads(), "every file waits");

    GatedFileSystemFactory.open();
    assertTrue(metrics.awaitUploadsIdle(WAIT), "uploads did not finish");

    for (var e : kept.entrySet()) assertArrayEquals(e.getValue(), cachedBytes(e.getKey()));
    assertArrayEquals(largeData, cachedBytes(large));
    for (Path p : deletedThroughPlugin) assertFalse(cached(p), p + ": deleted before its copy");
    for (Path p : deletedBehindPlugin) assertFalse(cached(p), p + ": deleted behind the plugin");
    var s = metrics.snapshot();
    int sent = files - deletedThroughPlugin.size();
    assertEquals(sent, s.uploadsBatched(), "every small file still there went in the batch");
    // The gate file and the large one went on their own.
    assertEquals(sent + 2, s.uploadsSucceeded());
    assertEquals(deletedThroughPlugin.size(), s.uploadsCancelled());
    assertEquals(0, s.uploadsFailed());
    assertEquals(0, s.uploadsDropped());
    assertEquals(1, agent.metric("ckc_write_batch_items_count"), "one WriteBatch call");
    assertEquals(sent, agent.metric("ckc_write_batch_items_sum"));
    // And through ckc://, from the cache.
    Path some = kept.keySet().iterator().next();
    try (FSDataInputStream in = fs.open(some)) {
      assertArrayEquals(kept.get(some), in.readAllBytes());
    }
    assertEquals(0, metrics.snapshot().bytesFromRemote());
    try (var spool = Files.list(dir.resolve("spool"))) {
      for (java.nio.file.Path d : (Iterable<java.nio.file.Path>) spool::iterator) {
        try (var left = Files.list(d)) {
          assertEquals(List.of(), left.toList(), "every spool file removed");
        }
      }
    }
  }

  /**
   * Default stream slots, one upload thread held at the gate: files of at most 64 KiB take no
   * slot (none is cached while the thread is held, all wait and then go in one WriteBatch), while
   * a file one byte larger takes a slot once it grows past 64 KiB and is committed by its stream
   * thread meanwhile.
   */
  @Test
  void withStreamSlotsFreeOnlyAFilePastTheBatchSizeStreams() throws Exception {
    startAgent(METRICS);
    fs = fileSystem(agent.address(), Map.of("checkpoint-cache.upload.streams", "4"));
    holdUploadThread();
    Map<Path, byte[]> small = new LinkedHashMap<>();
    for (int i = 0; i < 20; i++) {
      Path p = path("slotless-" + i);
      byte[] data = SharedTestAgent.bytes(i == 0 ? 64 * 1024 : 1000 + i * 3000, 5000 + i);
      write(p, data);
      small.put(p, data);
    }
    Path past = path("past-the-batch-size");
    byte[] pastData = SharedTestAgent.bytes(64 * 1024 + 1, 5100);
    try (FSDataOutputStream out = fs.create(past, WriteMode.NO_OVERWRITE)) {
      // In Flink's write sizes: the slot is asked for by the write that crosses 64 KiB.
      for (int off = 0; off < pastData.length; off += 4096) {
        out.write(pastData, off, Math.min(4096, pastData.length - off));
      }
    }
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (!cached(past)) {
      assertTrue(System.nanoTime() < deadline, "the file past 64 KiB was streamed and committed");
      Thread.sleep(20);
    }
    for (Path p : small.keySet()) assertFalse(cached(p), p + " waits for the held upload thread");
    assertEquals(21, metrics.snapshot().pendingUploads(), "the small files and the gate's wait");

    GatedFileSystemFactory.open();
    assertTrue(metrics.awaitUploadsIdle(WAIT), "uploads did not finish");
    for (var e : small.entrySet()) assertArrayEquals(e.getValue(), cachedBytes(e.getKey()));
    assertArrayEquals(pastData, cachedBytes(past));
    var s = metrics.snapshot();
    assertEquals(20, s.uploadsBatched());
    assertEquals(22, s.uploadsSucceeded());
    assertEquals(1, agent.metric("ckc_write_batch_items_count"), "one WriteBatch call");
    assertEquals(20, agent.metric("ckc_write_batch_items_sum"));
  }

  /**
   * The defaults (ASYNC, 4 stream slots, 2 upload threads, batching at 64 KiB) and a packing
   * agent, no gate: 200 small files, each written and closed one after another by one of 4
   * threads, are all cached whole, and some of them went through WriteBatch (how many is timing:
   * those that closed while the upload threads were busy).
   */
  @Test
  void withTheDefaultsSmallFilesWrittenOneAfterAnotherGoThroughWriteBatch() throws Exception {
    List<String> args = new ArrayList<>(METRICS);
    args.addAll(List.of("--pack-max-bytes", "64KiB"));
    startAgent(args);
    fs =
        fileSystem(
            agent.address(),
            Map.of("checkpoint-cache.upload.streams", "4", "checkpoint-cache.upload.threads", "2"));
    int writers = 4;
    int each = 50;
    Map<Path, byte[]> written = new java.util.concurrent.ConcurrentHashMap<>();
    List<Thread> threads = new ArrayList<>();
    List<Throwable> errors = new java.util.concurrent.CopyOnWriteArrayList<>();
    for (int w = 0; w < writers; w++) {
      int writer = w;
      Thread t =
          new Thread(
              () -> {
                Random random = new Random(60 + writer);
                try {
                  for (int i = 0; i < each; i++) {
                    Path p = path("default-" + writer + "-" + i);
                    byte[] data =
                        SharedTestAgent.bytes(1 + random.nextInt(64 * 1024), 6000 + writer * each + i);
                    write(p, data);
                    written.put(p, data);
                  }
                } catch (Throwable e) {
                  errors.add(e);
                }
              });
      threads.add(t);
      t.start();
    }
    for (Thread t : threads) t.join();
    assertEquals(List.of(), errors);
    assertTrue(metrics.awaitUploadsIdle(WAIT), "uploads did not finish");
    assertEquals(writers * each, written.size());
    for (var e : written.entrySet()) assertArrayEquals(e.getValue(), cachedBytes(e.getKey()));
    var s = metrics.snapshot();
    assertEquals(writers * each, s.uploadsSucceeded());
    assertEquals(0, s.uploadsFailed());
    assertEquals(0, s.uploadsDropped());
    assertTrue(s.uploadsBatched() > 0, "some small files went through WriteBatch");
    assertEquals(s.uploadsBatched(), agent.metric("ckc_write_batch_items_sum"));
    System.out.printf(
        "%d of %d small files sent in %.0f WriteBatch calls%n",
        s.uploadsBatched(), writers * each, agent.metric("ckc_write_batch_items_count"));
  }

  @Test
  void smallFilesDeletedRightAfterCloseAreNotLeftCached() throws Exception {
    startAgent(List.of("--pack-max-bytes", "64KiB"));
    // Two upload threads and no gate: batches form as the uploads queue up, and deletes race them.
    fs = fileSystem(agent.address(), Map.of("checkpoint-cache.upload.threads", "2"));
    Map<Path, byte[]> kept = new LinkedHashMap<>();
    List<Path> deleted = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      Path p = path("raced-" + i);
      byte[] data = SharedTestAgent.bytes(100 + i * 97, 2000 + i);
      write(p, data);
      if (i % 2 == 1) {
        assertTrue(fs.delete(p, false));
        deleted.add(p);
      } else {
        kept.put(p, data);
      }
    }
    assertTrue(metrics.awaitUploadsIdle(WAIT), "uploads did not finish");
    for (Path p : deleted) assertFalse(cached(p), p + " was deleted right after close");
    for (var e : kept.entrySet()) assertArrayEquals(e.getValue(), cachedBytes(e.getKey()));
    var s = metrics.snapshot();
    assertEquals(200, s.uploadsSucceeded() + s.uploadsCancelled(), "each file counted once");
    assertEquals(0, s.uploadsFailed());
  }

  @Test
  void batchingOffSendsEachFileOnItsOwn() throws Exception {
    List<String> args = new ArrayList<>(METRICS);
    args.addAll(List.of("--pack-max-bytes", "64KiB"));
    startAgent(args);
    fs = fileSystem(agent.address(), Map.of("checkpoint-cache.upload.batch-max-bytes", "0"));
    holdUploadThread();
    Map<Path, byte[]> written = new LinkedHashMap<>();
    for (int i = 0; i < 20; i++) {
      Path p = path("unbatched-" + i);
      byte[] data = SharedTestAgent.bytes(500 + i, 3000 + i);
      write(p, data);
      written.put(p, data);
    }
    GatedFileSystemFactory.open();
    assertTrue(metrics.awaitUploadsIdle(WAIT), "uploads did not finish");
    for (var e : written.entrySet()) assertArrayEquals(e.getValue(), cachedBytes(e.getKey()));
    var s = metrics.snapshot();
    assertEquals(21, s.uploadsSucceeded());
    assertEquals(0, s.uploadsBatched());
    assertEquals(0, agent.metric("ckc_write_batch_items_count"), "no WriteBatch call");
  }

  @Test
  void anAgentWithoutWriteBatchGetsEachFileAsAWrite() throws Exception {
    try (ScriptedAgent older = ScriptedAgent.start()) {
      fs = fileSystem(older.address(), Map.of());
      holdUploadThread();
      Map<Path, byte[]> written = new LinkedHashMap<>();
      for (int i = 0; i < 10; i++) {
        Path p = path("older-" + i);
        byte[] data = SharedTestAgent.bytes(700 + i, 4000 + i);
        write(p, data);
        written.put(p, data);
      }
      GatedFileSystemFactory.open();
      assertTrue(metrics.awaitUploadsIdle(WAIT), "uploads did not finish");
      for (var e : written.entrySet()) assertArrayEquals(e.getValue(), older.bytes(key(e.getKey())));
      var s = metrics.snapshot();
      assertEquals(10, s.uploadsBatched(), "sent as a batch, which the client turned into Writes");
      assertEquals(11, s.uploadsSucceeded());
      assertEquals(0, s.uploadsFailed());
      assertEquals(11, older.writes(), "one Write per file, the gate's included");
    }
  }
}
