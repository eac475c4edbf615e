package io.checkpointcache.flink;

import io.checkpointcache.client.CheckpointCacheClient;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * One real agent for all tests of a class (a static {@code @RegisterExtension} field), in a temp
 * directory of its own, with the agent's log printed when a test fails; and the {@code ckc://}
 * file systems those tests configure against it, with the settings they all share.
 * Owns: the agent, its client and the directory (deleted after the class). Never: what a test
 * configures beyond the shared settings.
 */
final class SharedTestAgent implements BeforeAllCallback, AfterAllCallback, TestWatcher {
  private Path dir;
  private TestAgent agent;
  private CheckpointCacheClient client;

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    dir = Files.createTempDirectory("ckc-plugin-test-");
    agent = TestAgent.start(dir);
    client = agent.client();
  }

  @Override
  public void afterAll(ExtensionContext context) throws Exception {
    try {
      if (client != null) client.close();
      if (agent != null) agent.stop();
    } finally {
      try (Stream<Path> files = Files.walk(dir)) {
        for (Path p : files.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
      }
    }
  }

  @Override
  public void testFailed(ExtensionContext context, Throwable cause) {
    if (agent != null) {
      System.out.println(context.getDisplayName() + ": agent log:\n" + agent.logTail());
    }
  }

  TestAgent agent() {
    return agent;
  }

  CheckpointCacheClient client() {
    return client;
  }

  /** The class's temp directory (the agent's home is below it). */
  Path dir() {
    return dir;
  }

  /**
   * A {@code ckc://} file system over {@code target} using the agent at {@code agentAddress}
   * (usually {@link #agent()}'s), spooling below {@link #dir()}, giving up on an agent's first
   * message after 1 s; {@code settings} add to or replace those.
   */
  FileSystem fileSystem(String agentAddress, String target, Map<String, String> settings)
      throws IOException {
    Configuration c = new Configuration();
    c.setString("checkpoint-cache.target", target);
    c.setString("checkpoint-cache.agent", agentAddress);
    c.setString("checkpoint-cache.spool-dir", dir.resolve("spool").toString());
    c.setString("checkpoint-cache.first-message-timeout", "1 s");
    settings.forEach(c::setString);
    CheckpointCacheFileSystemFactory factory = new CheckpointCacheFileSystemFactory();
    factory.configure(c);
    return factory.create(URI.create("ckc:///"));
  }

  /** {@code size} random bytes, the same for the same seed. */
  static byte[] bytes(int size, long seed) {
    byte[] b = new byte[size];
    new Random(seed).nextBytes(b);
    return b;
  }
}
