package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.RecoverableFsDataOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which {@link CacheAccess} a configuration gets, and that with the cache disabled ckc:// is pure
 * pass-through: every operation works on the target and no agent is ever contacted. A listener
 * stands where the agent would be and counts the connections made to it.
 */
class CacheAccessModeTest {
  private static final String JOB = "00000000000000000000000000000abc";

  @TempDir java.nio.file.Path tmp;
  private java.nio.file.Path remote;
  private ServerSocket agentStandIn;
  private Thread acceptor;
  private final AtomicInteger connections = new AtomicInteger();
  private final CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();

  @BeforeEach
  void listen() throws IOException {
    remote = Files.createDirectories(tmp.resolve("remote"));
    agentStandIn = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    acceptor =
        new Thread(
            () -> {
              while (true) {
                try (Socket ignored = agentStandIn.accept()) {
                  connections.incrementAndGet();
                } catch (IOException closed) {
                  return;
                }
              }
            },
            "agent-stand-in");
    acceptor.setDaemon(true);
    acceptor.start();
    metrics.reset();
  }

  @AfterEach
  void stop() throws Exception {
    agentStandIn.close();
    acceptor.join(5_000);
  }

  private CheckpointCacheSettings settings(boolean enabled, String upload, java.nio.file.Path spool) {
    Configuration c = new Configuration();
    c.setString("checkpoint-cache.target", remote.toUri().toString());
    c.setString("checkpoint-cache.agent", agentAddress());
    c.setString("checkpoint-cache.enabled", String.valueOf(enabled));
    c.setString("checkpoint-cache.upload", upload);
    c.setString("checkpoint-cache.spool-dir", spool.toString());
    c.setString("checkpoint-cache.first-message-timeout", "1 s");
    return CheckpointCacheSettings.from(c, Map.of());
  }

  private String agentAddress() {
    return "127.0.0.1:" + agentStandIn.getLocalPort();
  }

  private static byte[] bytes(int size, long seed) {
    byte[] b = new byte[size];
    new Random(seed).nextBytes(b);
    return b;
  }

  @Test
  void eachConfigurationGetsItsAccessAndSaysSo() throws IOException {
    java.nio.file.Path spool = tmp.resolve("spool");
    CacheAccess off = CacheConnection.forSettings(settings(false, "async", spool)).cache;
    assertEquals(PassThroughCacheAccess.class, off.getClass());
    assertEquals("agent none (cache off); upload off", off.describe());

    CacheAccess readOnly = CacheConnection.forSettings(settings(true, "off", spool)).cache;
    assertEquals(AgentCacheAccess.class, readOnly.getClass());
    assertEquals("agent " + agentAddress() + "; upload off", readOnly.describe());

    java.nio.file.Path notADirectory = Files.writeString(tmp.resolve("a-file"), "x");
    CacheAccess noSpool =
        CacheConnection.forSettings(settings(true, "async", notADirectory)).cache;
    assertEquals(AgentCacheAccess.class, noSpool.getClass(), "no spool directory: no uploads");

    CacheAccess uploading = CacheConnection.forSettings(settings(true, "sync", spool)).cache;
    assertEquals(UploadingCacheAccess.class, uploading.getClass());
    assertEquals("agent " + agentAddress() + "; upload SYNC; fill-on-miss on", uploading.describe());
  }

  @Test
  void whenDisabledCkcIsPurePassThroughAndNeverContactsAnAgent() throws Exception {
    java.nio.file.Path spool = tmp.resolve("spool");
    FileSystem fs =
        new CheckpointCacheFileSystem(CacheConnection.forSettings(settings(false, "sync", spool)));
    Path dir = new Path("ckc:///ckpt/" + JOB + "/chk-1");
    Path a = new Path(dir, "a");
    byte[] first = bytes(100_000, 1);
    byte[] second = bytes(50_000, 2);

    try (FSDataOutputStream out = fs.create(a, WriteMode.NO_OVERWRITE)) {
      out.write(first);
    }
    try (FSDataOutputStream out = fs.create(a, WriteMode.OVERWRITE)) {
      out.write(second);
    }
    try (FSDataInputStream in = fs.open(a)) {
      in.seek(10);
      assertEquals(second[10] & 0xff, in.read());
    }
    assertEquals(second.length, fs.getFileStatus(a).getLen());
    assertEquals(1, fs.listStatus(dir).length);

    RecoverableFsDataOutputStream recoverable =
        fs.createRecoverableWriter().open(new Path(dir, "_metadata"));
    recoverable.write(first);
    recoverable.closeForCommit().commit();

    assertTrue(fs.mkdirs(new Path("ckc:///moved")));
    assertTrue(fs.rename(a, new Path("ckc:///moved/a")));
    assertTrue(fs.rename(dir, new Path("ckc:///moved/chk-1")));
    assertTrue(fs.delete(new Path("ckc:///moved/a"), false));
    assertTrue(fs.delete(new Path("ckc:///moved"), true));
    assertFalse(Files.exists(remote.resolve("moved")));

    assertEquals(0, connections.get(), "an agent was contacted");
    assertFalse(Files.exists(spool), "no uploader, so no spool directory");
    var s = metrics.snapshot();
    assertEquals(1, s.bytesFromRemote());
    assertEquals(0, s.bytesFromCache());
    assertEquals(0, s.filesWritten());
  }

  /** The stand-in does see a client when the cache is on: the test above can fail. */
  @Test
  void whenEnabledTheStandInIsContacted() throws Exception {
    FileSystem fs =
        new CheckpointCacheFileSystem(
            CacheConnection.forSettings(settings(true, "off", tmp.resolve("spool"))));
    byte[] data = bytes(10_000, 3);
    Files.write(remote.resolve("f"), data);
    try (FSDataInputStream in = fs.open(new Path("ckc:///f"))) {
      assertArrayEquals(data, in.readAllBytes());
    }
    assertTrue(connections.get() > 0, "the read asked the agent first");
    assertEquals(data.length, metrics.snapshot().bytesFromRemote());
  }
}
