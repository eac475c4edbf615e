package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.CheckpointCacheException;
import io.checkpointcache.flink.job.StatefulJob;
import io.checkpointcache.v1.EntryInfo;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.nio.file.Files;
import java.util.Random;
import java.util.Set;
import javax.management.MBeanServer;
import javax.management.ObjectName;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.plugin.DefaultPluginManager;
import org.apache.flink.core.plugin.DirectoryBasedPluginFinder;
import org.apache.flink.core.plugin.PluginManager;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The packaged plugin jar as Flink loads it from {@code plugins/checkpoint-cache/}: its own class
 * loader (the plugin's classes are not on this test's class path), grpc and netty relocated,
 * netty's epoll library renamed to match, and the Unix socket transport working from inside it.
 * Runs in {@code verify}, after {@code package} built the jar.
 */
class PluginJarIT {
  private static final String JOB = "0000000000000000000000000000beef";

  @TempDir static java.nio.file.Path tmp;
  private static TestAgent agent;
  private static CheckpointCacheClient client;
  private static FileSystem fs;
  private static java.nio.file.Path remote;

  @BeforeAll
  static void loadThePlugin() throws Exception {
    agent = TestAgent.start(tmp);
    client = agent.client();
    java.nio.file.Path jar = java.nio.file.Path.of(System.getProperty("ckc.pluginJar"));
    java.nio.file.Path plugins = tmp.resolve("plugins");
    Files.createDirectories(plugins.resolve("checkpoint-cache"));
    Files.copy(jar, plugins.resolve("checkpoint-cache").resolve(jar.getFileName()));
    remote = Files.createDirectories(tmp.resolve("remote"));

    Configuration config = new Configuration();
    config.setString("checkpoint-cache.target", remote.toUri().toString());
    config.setString("checkpoint-cache.agent", agent.address());
    config.setString("checkpoint-cache.upload", "sync");
    config.setString("checkpoint-cache.spool-dir", tmp.resolve("spool").toString());
    PluginManager plugins_ =
        new DefaultPluginManager(
            new DirectoryBasedPluginFinder(plugins).findPlugins(),
            CoreOptions.getPluginParentFirstLoaderPatterns(config));
    FileSystem.initialize(config, plugins_);
    fs = FileSystem.get(URI.create("ckc:///"));
  }

  @AfterAll
  static void stop() throws Exception {
    FileSystem.initialize(new Configuration(), null);
    if (client != null) client.close();
    if (agent != null) agent.stop();
  }

  @Test
  void thePluginIsIsolatedInItsOwnClassLoader() {
    assertThrows(
        ClassNotFoundException.class,
        () -> Class.forName("io.checkpointcache.flink.CheckpointCacheFileSystem"));
    // Flink wraps only file systems that come from plugins this way (it sets the plugin's class
    // loader as the context class loader around every call).
    assertEquals(
        "org.apache.flink.core.fs.PluginFileSystemFactory$ClassLoaderFixingFileSystem",
        fs.getClass().getName());
  }

  @Test
  void writesReadsAndDeletesThroughTheAgentsUnixSocket() throws Exception {
    byte[] data = new byte[3 * 1024 * 1024 + 11];
    new Random(1).nextBytes(data);
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-1/state");
    try (FSDataOutputStream out = fs.create(p, FileSystem.WriteMode.NO_OVERWRITE)) {
      out.write(data);
    }
    String key = "file:" + remote.resolve("ckpt/" + JOB + "/chk-1/state");
    EntryInfo entry = client.stat(key, true);
    assertEquals(data.length, entry.getSize());
    assertEquals(JOB, entry.getJobId());

    long fromCacheBefore = jmx("BytesFromCache");
    try (FSDataInputStream in = fs.open(p)) {
      assertArrayEquals(data, in.readAllBytes());
    }
    assertEquals(data.length, jmx("BytesFromCache") - fromCacheBefore);

    agent.corrupt(key, 2_000_000);
    long fallbacksBefore = jmx("Fallbacks");
    long fromRemoteBefore = jmx("BytesFromRemote");
    try (FSDataInputStream in = fs.open(p)) {
      assertArrayEquals(data, in.readAllBytes());
    }
    assertEquals(1, jmx("Fallbacks") - fallbacksBefore);
    assertTrue(jmx("BytesFromRemote") - fromRemoteBefore > 0);

    Path q = new Path("ckc:///ckpt/" + JOB + "/chk-2/state");
    try (FSDataOutputStream out = fs.create(q, FileSystem.WriteMode.NO_OVERWRITE)) {
      out.write(data, 0, 1000);
    }
    assertTrue(fs.delete(new Path("ckc:///ckpt/" + JOB + "/chk-2"), true));
    assertThrows(
        CheckpointCacheException.class,
        () -> client.stat("file:" + remote.resolve("ckpt/" + JOB + "/chk-2/state"), true));
    assertFalse(Files.exists(remote.resolve("ckpt/" + JOB + "/chk-2")));
  }

  /**
   * The real job restoring through the jar (as {@code CheckpointRestoreJobTest} does through the
   * classes): SYNC upload, so every file of a completed checkpoint is cached, and all reads of the
   * run are the restore's.
   */
  @Test
  void aJobRestoresItsStateFromTheCacheThroughThePluginJar() throws Exception {
    StatefulJob.Params params = new StatefulJob.Params(1_000, 8 * 1024, 4, 3, 2);
    java.nio.file.Path dir = Files.createDirectories(tmp.resolve("job"));
    Configuration config = new Configuration();
    config.setString("execution.checkpointing.dir", "ckc:///job-checkpoints");
    config.setString("execution.checkpointing.interval", "200 ms");
    config.setString("state.backend.type", "hashmap");
    config.setString("restart-strategy.type", "fixed-delay");
    config.setString("restart-strategy.fixed-delay.attempts", "2");
    config.setString("restart-strategy.fixed-delay.delay", "10 ms");
    config.setString("io.tmp.dirs", dir.toString());
    config.setString("web.tmpdir", dir.toString());
    StatefulJob.reset(params, null);
    long fromCache = jmx("BytesFromCache");
    long fromRemote = jmx("BytesFromRemote");

    StatefulJob.execute(config, params);

    assertEquals(1, StatefulJob.restarts());
    assertEquals(StatefulJob.expected(params), StatefulJob.RESULTS);
    assertTrue(jmx("BytesFromCache") - fromCache > params.stateBytes() / 2);
    assertEquals(0, jmx("BytesFromRemote") - fromRemote);
  }

  /** A counter of the plugin's JMX bean (the only view of it from outside its class loader). */
  private static long jmx(String attribute) throws Exception {
    MBeanServer server = ManagementFactory.getPlatformMBeanServer();
    Set<ObjectName> names =
        server.queryNames(
            new ObjectName("io.checkpointcache.flink:type=CheckpointCacheFileSystem,*"), null);
    assertEquals(1, names.size(), names.toString());
    return ((Number) server.getAttribute(names.iterator().next(), attribute)).longValue();
  }
}
