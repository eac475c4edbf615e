package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The short circuit against a real agent that packs small entries several to a file
 * ({@code --pack-max-bytes}): each entry is read straight from its pack, at the lease's
 * data_offset, and verified; nothing is streamed by the agent.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PackedEntriesTest {
  private static final int SIZE = 70_000;

  @TempDir static Path tmp;
  private TestAgent agent;

  @BeforeAll
  void startAgent() throws Exception {
    agent = TestAgent.start(tmp, "--pack-max-bytes", "128KiB", "--block-size", "16KiB");
  }

  @AfterAll
  void stopAgent() throws Exception {
    if (agent != null) agent.stop();
  }

  @Test
  void packedEntriesAreReadFromTheirPackAtTheirOffset() throws Exception {
    Map<String, byte[]> sent = new LinkedHashMap<>();
    try (CheckpointCacheClient c = CheckpointCacheClient.connect(agent.tcpAddress())) {
      for (int i = 0; i < 6; i++) {
        String key = "packed/" + i;
        byte[] data = TestBytes.generate(SIZE, 40 + i);
        c.put(key, data, PutOptions.of("packed", 1));
        sent.put(key, data);
      }
    }
    CheckpointCacheClientOptions options =
        CheckpointCacheClientOptions.builder(agent.address("unix")).shortCircuit(true).build();
    try (CheckpointCacheClient c = new CheckpointCacheClient(options)) {
      for (Map.Entry<String, byte[]> e : sent.entrySet()) {
        try (CheckpointReadStream in = c.open(e.getKey(), null)) {
          assertArrayEquals(e.getValue(), in.readAllBytes(), e.getKey());
        }
      }
      // A range across block boundaries in the middle of a packed entry.
      byte[] data = sent.get("packed/3");
      try (CheckpointReadStream in = c.open("packed/3", null, 16_000L, 40_000L)) {
        assertArrayEquals(Arrays.copyOfRange(data, 16_000, 56_000), in.readAllBytes());
      }
      ClientStatsSnapshot s = c.stats();
      assertEquals(6L * SIZE + 40_000, s.bytesShortCircuit(), "bytes short-circuited");
      assertEquals(s.bytesShortCircuit(), s.bytesFromCache(), "no byte streamed by the agent");
      assertEquals(0, s.shortCircuitMisses());
    }
  }
}
