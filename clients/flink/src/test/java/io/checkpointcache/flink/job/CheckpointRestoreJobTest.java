package io.checkpointcache.flink.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.flink.CheckpointCacheMetrics.ReadRecord;
import io.checkpointcache.flink.job.RestoreScenario.Backend;
import io.checkpointcache.flink.job.RestoreScenario.Fault;
import io.checkpointcache.flink.job.RestoreScenario.Run;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The product's promise on a real Flink job: a stateful job (~20 MB of keyed state) checkpoints to
 * ckc:// over a local directory standing in for HDFS, fails once after some checkpoints, and
 * Flink restores it. With a healthy cache every restored byte comes from the cache; with the agent
 * stopped every byte comes from the real file system; with corrupt cached copies the restore
 * falls back mid-file. In every case the job's result equals the fault-free one (exactly-once).
 */
class CheckpointRestoreJobTest {
  /** 2,000 keys × 10 KiB = ~20 MB of state; about 9 checkpoints; the failure after the 4th. */
  static final StatefulJob.Params PARAMS = new StatefulJob.Params(2_000, 10 * 1024, 4, 4, 2);

  @TempDir Path work;

  private static String describe(Run run) {
    return run.backend().label + " / " + run.fault() + ": restored checkpoint " + run.restoredCheckpoint()
        + " (" + run.checkpointBytes() + " bytes) in " + run.restoreSeconds() + " s; "
        + run.restoreReads() + " reads, " + run.restoreBytesFromCache() + " bytes from cache, "
        + run.restoreBytesFromRemote() + " from remote, fallbacks " + run.restoreFallbacks()
        + "; restarts " + run.restarts() + "; checkpoints completed " + run.completedCheckpoints() + ", failed " + run.checkpointFailures()
        + "; " + run.metrics();
  }

  private static void assertRestoredExactlyOnce(Run run) {
    System.out.println(describe(run));
    assertTrue(run.exactlyOnce(), "result differs from the fault-free run: " + run.mismatch());
    assertTrue(run.restoredCheckpoint() >= PARAMS.failAfterCheckpoint(), describe(run));
    assertTrue(run.checkpointBytes() > PARAMS.stateBytes() / 2, describe(run));
    // No checkpoint failure is tolerated, so one that failed because of the cache would have
    // restarted the job once more.
    assertEquals(1, run.restarts(), describe(run));
    assertTrue(run.restoreReads() > 0, "the restore read state through ckc://");
  }

  @ParameterizedTest
  @EnumSource(Backend.class)
  void restoresEveryByteFromTheCache(Backend backend) throws Exception {
    Run run = RestoreScenario.run(work, backend, Fault.NONE, PARAMS);
    assertRestoredExactlyOnce(run);
    assertTrue(run.restoreBytesFromCache() > 0, describe(run));
    assertEquals(0, run.restoreBytesFromRemote(), describe(run));
    assertEquals(0, run.restoreFallbacks().size(), describe(run));
    for (ReadRecord r : run.restoreReadLog()) assertEquals(0, r.bytesFromRemote(), r.toString());
  }

  @ParameterizedTest
  @EnumSource(Backend.class)
  void restoresFromTheRealFileSystemWhenTheAgentIsDown(Backend backend) throws Exception {
    Run run = RestoreScenario.run(work, backend, Fault.AGENT_STOPPED, PARAMS);
    assertRestoredExactlyOnce(run);
    assertEquals(0, run.restoreBytesFromCache(), describe(run));
    assertTrue(run.restoreBytesFromRemote() > 0, describe(run));
    assertEquals(run.restoreReads(), run.restoreFallbacks().getOrDefault("UNAVAILABLE", 0L), describe(run));
    assertTrue(run.metrics().uploadsFailed() > 0, "checkpoints after the restore could not be cached");
  }

  @ParameterizedTest
  @EnumSource(Backend.class)
  void aRestoreFromAnEmptyCacheFillsIt(Backend backend) throws Exception {
    Run run = RestoreScenario.run(work, backend, Fault.CACHE_EMPTIED, PARAMS);
    assertRestoredExactlyOnce(run);
    assertEquals(0, run.restoreBytesFromCache(), describe(run));
    assertEquals(run.restoreReads(), run.restoreFallbacks().getOrDefault("NOT_FOUND", 0L), describe(run));
    // Nothing but the restore read through ckc:// in this run, and it read every file whole: each
    // read was filled, or its fill cancelled because Flink deleted the file first (with a
    // checkpoint every 200 ms and one retained, the restored checkpoint is soon subsumed; RocksDB's
    // shared files that later checkpoints still use stay, and are filled).
    var m = run.metrics();
    assertEquals(run.restoreReads(), m.filesFilled() + m.fillsCancelled(), describe(run));
    assertEquals(0, m.fillsFailed() + m.fillsDropped(), describe(run));
  }

  @ParameterizedTest
  @EnumSource(Backend.class)
  void restoresCorrectlyFromACorruptCache(Backend backend) throws Exception {
    Run run = RestoreScenario.run(work, backend, Fault.CACHE_CORRUPTED, PARAMS);
    assertRestoredExactlyOnce(run);
    assertTrue(run.restoreFallbacks().getOrDefault("DATA_LOSS", 0L) > 0, describe(run));
    assertTrue(run.restoreBytesFromCache() > 0, "the blocks before the bad one came from the cache");
    assertTrue(run.restoreBytesFromRemote() > 0, describe(run));
  }
}
