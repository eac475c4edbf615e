package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.grpc.Status;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link CheckpointCacheClient#writeBatch} against a real agent: entries split into calls, each
 * with its own result (stored, already there, refused), a large entry sent alone with Write, and
 * every stored entry read back byte for byte; and against {@link ScriptedAgent}, which answers
 * WriteBatch UNIMPLEMENTED as an agent older than the call does: the entries go as single puts.
 */
class WriteBatchTest {
  private static final int MIB = 1024 * 1024;

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

  @Test
  void storesEachEntryAndAnswersEachOnItsOwn() throws Exception {
    String prefix = "hdfs://nn/java-batch/" + UUID.randomUUID() + "/";
    try (CheckpointCacheClient client = CheckpointCacheClient.connect(agent.unixAddress())) {
      byte[] cached = TestBytes.generate(300, 1);
      client.put(prefix + "cached", cached, PutOptions.DEFAULT);

      // 1,200 small entries: two calls (at most 1,000 items each).
      List<BatchEntry> entries = new ArrayList<>();
      for (int i = 0; i < 1200; i++) {
        entries.add(
            new BatchEntry(
                prefix + i, TestBytes.generate(100 + i % 50, 1000 + i), PutOptions.of("job-b", 7)));
      }
      byte[] large = TestBytes.generate(9 * MIB, 2); // over a batch's 8 MiB: sent with Write
      entries.add(new BatchEntry(prefix + "large", large));
      entries.add(new BatchEntry(prefix + "cached", TestBytes.generate(300, 3))); // other bytes
      entries.add(new BatchEntry(prefix + "cached", cached)); // the same bytes
      byte[] abc = {'a', 'b', 'c'};
      PutOptions wrongCrc = PutOptions.DEFAULT.withCrc32c(TestBytes.crc32c(abc) ^ 1);
      entries.add(new BatchEntry(prefix + "bad-crc", abc, wrongCrc));

      List<BatchEntryResult> results = client.writeBatch(entries);
      assertEquals(entries.size(), results.size());
      for (int i = 0; i < 1201; i++) {
        BatchEntryResult r = results.get(i);
        assertTrue(r.ok(), entries.get(i).key() + ": " + r.error());
        assertNull(r.error());
        assertTrue(r.result().created());
        assertEquals(entries.get(i).data().length, r.result().entry().getSize());
      }
      assertEquals(List.of(7L), results.get(0).result().entry().getCheckpointIdsList());
      BatchEntryResult conflict = results.get(1201);
      assertFalse(conflict.ok());
      assertEquals(Status.Code.ALREADY_EXISTS, conflict.error().code());
      assertEquals("WriteBatch", conflict.error().rpc());
      assertTrue(results.get(1202).ok());
      assertFalse(results.get(1202).result().created(), "the same bytes: kept, not rewritten");
      assertEquals(Status.Code.FAILED_PRECONDITION, results.get(1203).error().code());

      for (int i : new int[] {0, 599, 1199, 1200}) {
        try (CheckpointReadStream in = client.open(entries.get(i).key(), null)) {
          assertArrayEquals(entries.get(i).data(), TestBytes.readAll(in, 1 << 20));
        }
      }
      try (CheckpointReadStream in = client.open(prefix + "cached", null)) {
        assertArrayEquals(cached, TestBytes.readAll(in, 1 << 20));
      }
    }
  }

  @Test
  void sendsSinglePutsToAnAgentWithoutWriteBatch() throws Exception {
    try (ScriptedAgent older = ScriptedAgent.start();
        CheckpointCacheClient client = CheckpointCacheClient.connect(older.address())) {
      List<BatchEntry> entries = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        entries.add(new BatchEntry("hdfs://nn/older/" + i, TestBytes.generate(200, 50 + i)));
      }
      List<BatchEntryResult> results = client.writeBatch(entries);
      for (BatchEntryResult r : results) assertTrue(r.ok(), String.valueOf(r.error()));
      assertEquals(5, older.writes(), "one Write per entry");
      for (BatchEntry e : entries) assertArrayEquals(e.data(), older.bytes(e.key()));
    }
  }
}
