package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.WarmUpReport;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.stream.Stream;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.logging.log4j.Level;
import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.core.LogEvent;
import org.apache.logging.log4j.core.LoggerContext;
import org.apache.logging.log4j.core.appender.AbstractAppender;
import org.apache.logging.log4j.core.config.Configurator;
import org.apache.logging.log4j.core.config.Property;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The plugin's warm-up of the read path against a real agent: started once per process (per
 * {@link WarmUpOnStart}), only with the short circuit on and {@code checkpoint-cache.warm-up} not
 * false; it leaves no entry in the agent, no file outside its own directory (which is gone
 * afterwards), nothing in the plugin's metrics, and with the agent down it logs nothing above
 * DEBUG and the plugin works as without it.
 */
class WarmUpOnStartTest {
  @TempDir static Path tmp;
  private static TestAgent agent;

  @BeforeAll
  static void startAgent() throws Exception {
    agent = TestAgent.start(tmp);
  }

  @AfterAll
  static void stopAgent() throws Exception {
    if (agent != null) agent.stop();
  }

  private static CheckpointCacheSettings settings(String agentAddress, Path spool, String... more) {
    Configuration c = new Configuration();
    c.setString("checkpoint-cache.target", tmp.resolve("remote").toUri().toString());
    c.setString("checkpoint-cache.agent", agentAddress);
    c.setString("checkpoint-cache.cache-dir", agent.home().resolve("cache").toString());
    c.setString("checkpoint-cache.spool-dir", spool.toString());
    c.setString("checkpoint-cache.first-message-timeout", "1 s");
    for (int i = 0; i < more.length; i += 2) c.setString(more[i], more[i + 1]);
    return CheckpointCacheSettings.from(c, Map.of());
  }

  @Test
  void runsOnceOnItsOwnThreadAndLeavesNothing() throws Exception {
    Path spool = tmp.resolve("spool-once");
    CheckpointCacheSettings settings = settings(agent.address(), spool);
    List<Path> cacheBefore = cacheFiles();
    CheckpointCacheMetrics.Snapshot metricsBefore = CheckpointCacheMetrics.global().snapshot();

    WarmUpOnStart process = new WarmUpOnStart();
    Thread thread = process.startIfWanted(settings);
    assertNotNull(thread, "cache-dir set, warm-up on by default");
    assertTrue(thread.isDaemon(), "never keeps a process alive");
    assertNull(process.startIfWanted(settings), "once per process");
    thread.join(60_000);
    assertFalse(thread.isAlive(), "bounded");

    WarmUpReport report = WarmUpOnStart.run(settings);
    assertNotNull(report);
    assertNull(report.syntheticProblem(), report.toString());
    assertTrue(report.rounds() >= 1 && report.shortCircuitMisses() == 0, report.toString());
    assertEquals("Read NOT_FOUND", report.agentAnswer());

    // The read counters only: another test's connection may still be finishing an upload.
    CheckpointCacheMetrics.Snapshot metricsAfter = CheckpointCacheMetrics.global().snapshot();
    assertEquals(metricsBefore.reads(), metricsAfter.reads(), "no ckc:// reads");
    assertEquals(metricsBefore.bytesFromCache(), metricsAfter.bytesFromCache());
    assertEquals(metricsBefore.bytesFromRemote(), metricsAfter.bytesFromRemote());
    assertEquals(metricsBefore.fallbacks(), metricsAfter.fallbacks(), "no misses or failures");
    assertEquals(List.of(), tree(spool), "its own directory below the spool directory is gone");
    assertEquals(cacheBefore, cacheFiles(), "nothing written to the cache directory");
    try (CheckpointCacheClient client = agent.client()) {
      assertFalse(client.list(null, null).iterator().hasNext(), "no entry in the agent");
    }
  }

  @Test
  void withTheAgentDownLogsNothingAboveDebugAndThePluginStillWorks() throws Exception {
    Path spool = tmp.resolve("spool-down");
    String noAgent = "unix:" + tmp.resolve("no-agent.sock");
    CheckpointCacheSettings settings = settings(noAgent, spool);

    WarmUpReport[] report = new WarmUpReport[1];
    List<String> logged = logDuring(() -> report[0] = WarmUpOnStart.run(settings));
    assertEquals(1, logged.size(), logged.toString());
    assertTrue(
        logged.get(0).startsWith("DEBUG " + WarmUpOnStart.class.getName() + ": "),
        "one DEBUG line and nothing above it: " + logged);
    assertNotNull(report[0]);
    assertEquals("Lease UNAVAILABLE", report[0].agentAnswer());
    assertNull(report[0].syntheticProblem(), "the local part does not need the agent");
    assertEquals(List.of(), tree(spool));

    // The plugin, configured alike, reads the target as it does whenever the agent is down.
    Path remote = Files.createDirectories(tmp.resolve("remote"));
    byte[] data = "state".repeat(1000).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    Files.write(remote.resolve("f"), data);
    Configuration c = new Configuration();
    c.setString("checkpoint-cache.target", remote.toUri().toString());
    c.setString("checkpoint-cache.agent", noAgent);
    c.setString("checkpoint-cache.cache-dir", agent.home().resolve("cache").toString());
    c.setString("checkpoint-cache.spool-dir", spool.toString());
    c.setString("checkpoint-cache.first-message-timeout", "1 s");
    // Already run above; a second one on Flink's thread would outlive this test's directory.
    c.setString("checkpoint-cache.warm-up", "false");
    CheckpointCacheFileSystemFactory factory = new CheckpointCacheFileSystemFactory();
    factory.configure(c);
    FileSystem fs = factory.create(URI.create("ckc:///"));
    try (FSDataInputStream in = fs.open(new org.apache.flink.core.fs.Path("ckc:///f"))) {
      assertArrayEquals(data, in.readAllBytes());
    }
  }

  @Test
  void offUnlessTheShortCircuitIsOnAndWarmUpIsNotFalse() throws Exception {
    Path spool = tmp.resolve("spool-off");
    WarmUpOnStart process = new WarmUpOnStart();
    assertNull(process.startIfWanted(settings(agent.address(), spool, "checkpoint-cache.warm-up", "false")));
    assertNull(
        process.startIfWanted(settings(agent.address(), spool, "checkpoint-cache.enabled", "false")));
    assertNull(
        process.startIfWanted(settings(agent.address(), spool, "checkpoint-cache.cache-dir", "")));
    assertFalse(Files.exists(spool), "nothing written, not even the spool directory");
    Thread thread = process.startIfWanted(settings(agent.address(), spool));
    assertNotNull(thread, "and on when wanted");
    thread.join(60_000);
  }

  /**
   * Runs {@code action} and returns what was logged meanwhile: the plugin's and client's lines
   * from DEBUG up (their loggers set to DEBUG for the time), anyone else's above DEBUG, through
   * slf4j (log4j here) or java.util.logging (grpc-java's).
   */
  private static List<String> logDuring(Runnable action) {
    List<String> seen = Collections.synchronizedList(new ArrayList<>());
    LoggerContext context = (LoggerContext) LogManager.getContext(false);
    AbstractAppender appender =
        new AbstractAppender("warm-up-test", null, null, true, Property.EMPTY_ARRAY) {
          @Override
          public void append(LogEvent event) {
            if (event.getLevel().isMoreSpecificThan(Level.INFO)
                || event.getLoggerName().startsWith("io.checkpointcache")) {
              seen.add(event.getLevel() + " " + event.getLoggerName() + ": " + event.getMessage().getFormattedMessage());
            }
          }
        };
    appender.start();
    context.getConfiguration().getRootLogger().addAppender(appender, Level.ALL, null);
    Level before = LogManager.getLogger("io.checkpointcache").getLevel();
    Configurator.setLevel("io.checkpointcache", Level.DEBUG);
    context.updateLoggers();
    Handler jul =
        new Handler() {
          @Override
          public void publish(LogRecord r) {
            if (r.getLevel().intValue() >= java.util.logging.Level.INFO.intValue()) {
              seen.add(r.getLevel() + " " + r.getLoggerName() + ": " + r.getMessage());
            }
          }

          @Override
          public void flush() {}

          @Override
          public void close() {}
        };
    java.util.logging.Logger julRoot = java.util.logging.Logger.getLogger("");
    julRoot.addHandler(jul);
    try {
      action.run();
    } finally {
      julRoot.removeHandler(jul);
      Configurator.setLevel("io.checkpointcache", before);
      context.getConfiguration().getRootLogger().removeAppender("warm-up-test");
      context.updateLoggers();
      appender.stop();
    }
    return List.copyOf(seen);
  }

  private static List<Path> cacheFiles() throws IOException {
    Path cache = agent.home().resolve("cache");
    return Stream.concat(tree(cache.resolve("entries")).stream(), tree(cache.resolve("tmp")).stream())
        .toList();
  }

  private static List<Path> tree(Path root) throws IOException {
    if (!Files.exists(root)) return List.of();
    try (Stream<Path> paths = Files.walk(root)) {
      return paths.filter(p -> !p.equals(root)).map(root::relativize).sorted().toList();
    }
  }
}
