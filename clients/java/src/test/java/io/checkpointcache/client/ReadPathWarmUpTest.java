package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The read path's warm-up against a real agent: it reads its synthetic entry through the short
 * circuit (every byte verified, no miss), asks the agent for a key nobody wrote, and leaves
 * nothing behind: no entry in the agent, no file in the cache directory or the scratch
 * directory, nothing in the client's counters. With the agent down it still warms the local part
 * and reports the agent's status instead of throwing.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ReadPathWarmUpTest {
  @TempDir static Path tmp;
  private TestAgent agent;

  @BeforeAll
  void startAgent() throws Exception {
    agent = TestAgent.start(tmp);
  }

  @AfterAll
  void stopAgent() throws Exception {
    if (agent != null) agent.stop();
  }

  @Test
  void warmsTheShortCircuitAndTheAgentsCallsAndLeavesNothing() throws Exception {
    Path scratch = Files.createDirectories(tmp.resolve("scratch-agent-up"));
    // The agent's entries and in-flight writes (its Redis and index snapshot live there too).
    List<Path> cacheBefore = cacheFiles();
    try (CheckpointCacheClient client =
        new CheckpointCacheClient(
            CheckpointCacheClientOptions.builder(agent.unixAddress())
                .shortCircuit(agent.cacheDir())
                .build())) {
      WarmUpReport report = client.warmUpReadPath(scratch);

      assertNull(report.syntheticProblem(), report.toString());
      assertTrue(report.rounds() >= 1, report.toString());
      assertTrue(
          report.shortCircuitBytes() > (long) report.rounds() * ReadPathWarmUp.ENTRY_BYTES,
          "every round reads the whole entry through the short circuit, and more: " + report);
      assertEquals(0, report.shortCircuitMisses(), report.toString());
      assertEquals("Read NOT_FOUND", report.agentAnswer(), "a Lease NOT_FOUND goes on to Read");

      ClientStatsSnapshot stats = client.stats();
      assertEquals(0, stats.reads(), "the warm-up's reads are not the client's");
      assertEquals(0, stats.bytesFromCache() + stats.bytesShortCircuit());
      assertEquals(0, stats.shortCircuitMisses());
      assertTrue(stats.fallbacks().isEmpty(), stats.toString());
      assertTrue(
          !client.list(null, null).iterator().hasNext(), "no entry was created in the agent");
    }
    assertEquals(List.of(), tree(scratch), "the synthetic entry's directory is gone");
    assertEquals(cacheBefore, cacheFiles(), "nothing written to the cache directory");
  }

  @Test
  void withTheAgentDownWarmsTheLocalPartAndReportsTheAgentsStatus() throws Exception {
    Path scratch = Files.createDirectories(tmp.resolve("scratch-agent-down"));
    String noAgent = "unix:" + tmp.resolve("no-agent.sock");
    try (CheckpointCacheClient client =
        new CheckpointCacheClient(
            CheckpointCacheClientOptions.builder(noAgent).shortCircuit(true).build())) {
      WarmUpReport report = client.warmUpReadPath(scratch);
      assertNull(report.syntheticProblem(), report.toString());
      assertTrue(report.rounds() >= 1, report.toString());
      assertEquals("Lease UNAVAILABLE", report.agentAnswer(), report.toString());
      assertEquals(0, client.stats().reads());
    }
    assertEquals(List.of(), tree(scratch));
  }

  @Test
  void aScratchDirectoryThatIsNotThereIsReportedNotThrown() {
    Path missing = tmp.resolve("not-there");
    try (CheckpointCacheClient client =
        new CheckpointCacheClient(
            CheckpointCacheClientOptions.builder(agent.unixAddress())
                .shortCircuit(agent.cacheDir())
                .build())) {
      WarmUpReport report = client.warmUpReadPath(missing);
      assertTrue(report.syntheticProblem().contains("NoSuchFileException"), report.toString());
      assertEquals(0, report.rounds());
      assertEquals("Read NOT_FOUND", report.agentAnswer());
    }
    assertTrue(!Files.exists(missing), "the warm-up creates no directory of the caller's");
  }

  private List<Path> cacheFiles() throws IOException {
    return Stream.concat(
            tree(agent.cacheDir().resolve("entries")).stream(),
            tree(agent.cacheDir().resolve("tmp")).stream())
        .toList();
  }

  /** Every path below {@code root}, relative and sorted; empty when it is gone or empty. */
  private static List<Path> tree(Path root) throws IOException {
    if (!Files.exists(root)) return List.of();
    try (Stream<Path> paths = Files.walk(root)) {
      return paths.filter(p -> !p.equals(root)).map(root::relativize).sorted().toList();
    }
  }
}
