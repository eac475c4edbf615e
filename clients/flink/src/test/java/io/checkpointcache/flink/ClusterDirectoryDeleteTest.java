package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.CheckpointCacheException;
import io.grpc.Status;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Random;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestWatcher;
import org.junit.jupiter.api.io.TempDir;

/**
 * A recursive delete through {@code ckc://} on one node removes the cached copies below the
 * directory on every node (issue 13): two real agents, node A and node B, share A's Redis as a
 * DaemonSet's agents share one; a file cached only on B (written by a TaskManager there) is gone
 * from B once the JobManager's node A deletes its checkpoint directory, which a listing of A's
 * entries could never have found. A sibling directory whose name starts the same stays.
 */
class ClusterDirectoryDeleteTest {
  private static final String JOB = "00000000000000000000000000000def";
  private static final Duration NOTICE_WAIT = Duration.ofSeconds(10);

  @TempDir static java.nio.file.Path tmp;
  private static TestAgent nodeA;
  private static TestAgent nodeB;
  private static CheckpointCacheClient clientA;
  private static CheckpointCacheClient clientB;
  /** Maps ckc:// paths to cache keys (the same on every node). */
  private FileSystem keys;

  @RegisterExtension
  static final TestWatcher AGENT_LOGS_ON_FAILURE =
      new TestWatcher() {
        @Override
        public void testFailed(ExtensionContext context, Throwable cause) {
          if (nodeA != null) System.out.println("node A's agent log:\n" + nodeA.logTail());
          if (nodeB != null) System.out.println("node B's agent log:\n" + nodeB.logTail());
        }
      };

  @BeforeAll
  static void startAgents() throws Exception {
    nodeA = TestAgent.start(tmp);
    nodeB = TestAgent.startOtherNode(tmp, nodeA, "flink-test-b");
    clientA = nodeA.client();
    clientB = nodeB.client();
  }

  @AfterAll
  static void stopAgents() throws Exception {
    for (AutoCloseable c : new AutoCloseable[] {clientA, clientB, nodeB, nodeA}) {
      if (c != null) c.close();
    }
  }

  @Test
  void aRecursiveDeleteOnOneNodeRemovesTheCopiesOnlyAnotherNodeHolds() throws Exception {
    java.nio.file.Path remote = Files.createTempDirectory(tmp, "remote-");
    CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();
    metrics.reset();
    Path onlyOnA = new Path("ckc:///ckpt/" + JOB + "/chk-1/a");
    Path onlyOnB = new Path("ckc:///ckpt/" + JOB + "/chk-1/b");
    Path deeperOnB = new Path("ckc:///ckpt/" + JOB + "/chk-1/sub/b2");
    Path siblingOnB = new Path("ckc:///ckpt/" + JOB + "/chk-10/c");
    // One ckc:// connection per process, as in Flink (a new configuration replaces it): node B's
    // TaskManager writes first, then node A's process writes and deletes.
    FileSystem onB = fileSystem(nodeB, remote);
    write(onB, onlyOnB, 2);
    write(onB, deeperOnB, 3);
    write(onB, siblingOnB, 4);
    assertTrue(metrics.awaitUploadsIdle(Duration.ofSeconds(30)), "uploads did not finish");
    FileSystem onA = fileSystem(nodeA, remote);
    keys = onA;
    write(onA, onlyOnA, 1);
    assertTrue(metrics.awaitUploadsIdle(Duration.ofSeconds(30)), "uploads did not finish");
    assertTrue(cached(clientA, onlyOnA));
    assertFalse(cached(clientA, onlyOnB), "node A never held node B's file");
    assertTrue(cached(clientB, onlyOnB));

    assertTrue(onA.delete(new Path("ckc:///ckpt/" + JOB + "/chk-1"), true));
    assertFalse(cached(clientA, onlyOnA));
    long deadline = System.nanoTime() + NOTICE_WAIT.toNanos();
    while ((cached(clientB, onlyOnB) || cached(clientB, deeperOnB))
        && System.nanoTime() < deadline) {
      Thread.sleep(50);
    }
    assertFalse(cached(clientB, onlyOnB), "node B kept a file of the deleted directory");
    assertFalse(cached(clientB, deeperOnB), "node B kept a file below the deleted directory");
    assertTrue(cached(clientB, siblingOnB), "chk-10 is not below chk-1");
  }

  private static FileSystem fileSystem(TestAgent agent, java.nio.file.Path remote)
      throws IOException {
    Configuration c = new Configuration();
    c.setString("checkpoint-cache.target", remote.toUri().toString());
    c.setString("checkpoint-cache.agent", agent.address());
    c.setString("checkpoint-cache.upload", "sync");
    c.setString("checkpoint-cache.spool-dir", tmp.resolve("spool").toString());
    CheckpointCacheFileSystemFactory factory = new CheckpointCacheFileSystemFactory();
    factory.configure(c);
    return factory.create(URI.create("ckc:///"));
  }

  private static void write(FileSystem fs, Path p, long seed) throws IOException {
    byte[] data = new byte[64 * 1024];
    new Random(seed).nextBytes(data);
    try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
      out.write(data);
    }
  }

  private boolean cached(CheckpointCacheClient client, Path ckc) throws CheckpointCacheException {
    try {
      client.stat(((CheckpointCacheFileSystem) keys).cacheKey(ckc), true);
      return true;
    } catch (CheckpointCacheException e) {
      if (e.code() == Status.Code.NOT_FOUND) return false;
      throw e;
    }
  }
}
