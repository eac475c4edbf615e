package io.checkpointcache.flink.job;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.flink.CheckpointCacheMetrics;
import io.checkpointcache.flink.CheckpointCacheOptions;
import io.checkpointcache.flink.TestAgent;
import io.checkpointcache.v1.EntryInfo;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.configuration.WebOptions;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.runtime.checkpoint.AbstractCheckpointStats;
import org.apache.flink.runtime.checkpoint.CheckpointStatsSnapshot;
import org.apache.flink.runtime.checkpoint.CompletedCheckpointStats;
import org.apache.flink.runtime.checkpoint.FailedCheckpointStats;
import org.apache.flink.runtime.checkpoint.RestoredCheckpointStats;

/**
 * One run of {@link StatefulJob} on a MiniCluster, checkpointing to {@code ckc:///checkpoints}
 * over a local directory that stands in for HDFS, with a real agent (and its private Redis)
 * started for the run; the job fails once after some checkpoints and Flink restores it. Reports
 * what the restore read, from where, how long it took, and whether the result is exactly-once.
 * Shared by the tests and the demo.
 */
public final class RestoreScenario {
  private RestoreScenario() {}

  /** The state backend under test. */
  public enum Backend {
    HASHMAP("hashmap"),
    ROCKSDB_INCREMENTAL("rocksdb incremental");

    public final String label;

    Backend(String label) {
      this.label = label;
    }
  }

  /** What happens to the cache just before the failure. */
  public enum Fault {
    /** Nothing: the restore should read every byte from the cache. */
    NONE,
    /** The agent is stopped: the restore reads everything from the real file system. */
    AGENT_STOPPED,
    /** Every cached file gets one byte flipped in its middle: DATA_LOSS, then the real file. */
    CACHE_CORRUPTED,
    /**
     * Every cached copy is deleted, as on a node that replaced a lost one: the restore reads
     * everything from the real file system, and fill on miss copies what it read into the cache.
     */
    CACHE_EMPTIED,
    /** No plugin at all: checkpoints go to the real file system's file:// URI (a baseline). */
    NO_CACHE
  }

  /**
   * What one run showed.
   *
   * @param restoredCheckpoint the checkpoint Flink restored
   * @param checkpointBytes state size of that checkpoint (Flink's checkpoint statistics)
   * @param restoreSeconds from the injected failure until every subtask had its state back
   * @param restoreReads files the restore opened through ckc://
   * @param restoreFallbacks restore reads that left the cache, by reason
   * @param restarts how often the job restarted (1: only the injected failure; a checkpoint that
   *     failed on an I/O error would add one, as no checkpoint failure is tolerated)
   * @param checkpointFailures why checkpoints failed (the one the injected failure interrupted
   *     shows up here)
   * @param avgCheckpointMillis mean end-to-end duration of the run's completed checkpoints
   * @param exactlyOnce the final state equals the fault-free one
   */
  public record Run(
      Backend backend,
      Fault fault,
      String uploadMode,
      long restoredCheckpoint,
      long checkpointBytes,
      double restoreSeconds,
      int restoreReads,
      long restoreBytesFromCache,
      long restoreBytesFromRemote,
      Map<String, Long> restoreFallbacks,
      List<CheckpointCacheMetrics.ReadRecord> restoreReadLog,
      int restarts,
      long completedCheckpoints,
      List<String> checkpointFailures,
      double avgCheckpointMillis,
      CheckpointCacheMetrics.Snapshot metrics,
      boolean exactlyOnce,
      String mismatch) {}

  /**
   * How the plugin is set up.
   *
   * @param uploadMode checkpoint-cache.upload: async, sync
   * @param remoteScheme the scheme of the real file system: file, or slowfile (the same files
   *     read through a paced link, see {@link ThrottledFileSystemFactory})
   */
  public record Options(String uploadMode, String remoteScheme) {
    public static final Options DEFAULT = new Options("async", "file");
  }

  /** Runs {@code params} with {@code backend} and {@code fault}, in a new directory below {@code work}. */
  public static Run run(Path work, Backend backend, Fault fault, StatefulJob.Params params)
      throws Exception {
    return run(work, backend, fault, params, Options.DEFAULT);
  }

  public static Run run(
      Path work, Backend backend, Fault fault, StatefulJob.Params params, Options options)
      throws Exception {
    String uploadMode = options.uploadMode();
    Path dir = null;
    for (int i = 1; dir == null; i++) {
      try {
        // Short: the agent's Redis socket lives below, and socket paths are limited to 103 bytes.
        String name = (backend == Backend.HASHMAP ? "hashmap-" : "rocksdb-") + fault.ordinal() + "-" + i;
        dir = Files.createDirectory(work.resolve(name));
      } catch (java.nio.file.FileAlreadyExistsException e) {
        // A run of the same kind came first; take the next number.
      }
    }
    Path remote = Files.createDirectories(dir.resolve("remote"));
    TestAgent agent = fault == Fault.NO_CACHE ? null : TestAgent.start(dir);
    try {
      String remoteUri = options.remoteScheme() + "://" + remote.toUri().getPath();
      Configuration config = config(dir, remoteUri, backend, fault, params, agent, uploadMode);
      FileSystem.initialize(config, null);
      CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();
      metrics.reset();
      StatefulJob.reset(params, hook(fault, agent));

      CheckpointStatsSnapshot stats = StatefulJob.execute(config, params);
      metrics.awaitUploadsIdle(Duration.ofSeconds(30));
      return report(backend, fault, uploadMode, params, stats, metrics);
    } finally {
      FileSystem.initialize(new Configuration(), null);
      if (agent != null) agent.stop();
    }
  }

  private static Configuration config(
      Path dir,
      String remote,
      Backend backend,
      Fault fault,
      StatefulJob.Params params,
      TestAgent agent,
      String uploadMode) {
    Configuration c = new Configuration();
    if (fault == Fault.NO_CACHE) {
      c.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, remote + "checkpoints");
    } else {
      c.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, "ckc:///checkpoints");
      c.set(CheckpointCacheOptions.TARGET, remote);
      c.set(CheckpointCacheOptions.AGENT, agent.address());
      c.set(CheckpointCacheOptions.SPOOL_DIR, dir.resolve("spool").toString());
      c.setString(CheckpointCacheOptions.UPLOAD.key(), uploadMode);
    }
    c.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(200));
    c.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, 0);
    c.set(StateBackendOptions.STATE_BACKEND, backend == Backend.HASHMAP ? "hashmap" : "rocksdb");
    c.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, backend == Backend.ROCKSDB_INCREMENTAL);
    c.setString("state.backend.rocksdb.localdir", dir.resolve("rocksdb").toString());
    c.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
    c.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 2);
    c.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(10));
    c.set(WebOptions.CHECKPOINTS_HISTORY_SIZE, 1000);
    c.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.ofMebiBytes(256));
    c.setString("io.tmp.dirs", dir.resolve("io-tmp").toString());
    c.set(WebOptions.TMP_DIR, dir.resolve("web").toString());
    return c;
  }

  private static StatefulJob.Hook hook(Fault fault, TestAgent agent) {
    return lastCompleted -> {
      CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();
      // The copies of the checkpoint's files are made after the files are closed (ASYNC);
      // "restored from the cache" is about files the cache held, so let those finish first.
      if (!metrics.awaitUploadsIdle(Duration.ofSeconds(60))) {
        throw new IllegalStateException("uploads did not finish within 60 s");
      }
      switch (fault) {
        case AGENT_STOPPED -> agent.stop();
        case CACHE_CORRUPTED -> {
          try (CheckpointCacheClient client = agent.client()) {
            for (EntryInfo e : client.list(null, null)) {
              if (e.getSize() > 1) agent.corrupt(e.getKey(), e.getSize() / 2);
            }
          }
        }
        case CACHE_EMPTIED -> {
          try (CheckpointCacheClient client = agent.client()) {
            for (EntryInfo e : client.list(null, null)) client.delete(e.getKey());
          }
        }
        default -> {}
      }
    };
  }

  private static Run report(
      Backend backend,
      Fault fault,
      String uploadMode,
      StatefulJob.Params params,
      CheckpointStatsSnapshot stats,
      CheckpointCacheMetrics metrics) {
    long failedAt = StatefulJob.failedAtMillis();
    List<CheckpointCacheMetrics.ReadRecord> restoreReads =
        failedAt == 0 ? List.of() : metrics.readsOpenedSince(failedAt);
    long fromCache = 0;
    long fromRemote = 0;
    Map<String, Long> fallbacks = new TreeMap<>();
    for (CheckpointCacheMetrics.ReadRecord r : restoreReads) {
      fromCache += r.bytesFromCache();
      fromRemote += r.bytesFromRemote();
      if (r.fallbackReason() != null) fallbacks.merge(r.fallbackReason(), 1L, Long::sum);
    }
    RestoredCheckpointStats restored = stats.getLatestRestoredCheckpoint();
    long completed = 0;
    long durationSum = 0;
    List<String> failures = new ArrayList<>();
    for (AbstractCheckpointStats s : stats.getHistory().getCheckpoints()) {
      if (s instanceof CompletedCheckpointStats c) {
        completed++;
        durationSum += c.getEndToEndDuration();
      } else if (s instanceof FailedCheckpointStats f) {
        failures.add("checkpoint " + f.getCheckpointId() + ": " + f.getFailureMessage());
      }
    }
    long restoredAt = StatefulJob.restoredAtMillis();
    Map<Long, StatefulJob.KeyResult> expected = StatefulJob.expected(params);
    String mismatch = mismatch(expected, StatefulJob.RESULTS);
    return new Run(
        backend,
        fault,
        fault == Fault.NO_CACHE ? "-" : uploadMode,
        restored == null ? -1 : restored.getCheckpointId(),
        restored == null ? 0 : restored.getStateSize(),
        failedAt == 0 || restoredAt == 0 ? Double.NaN : (restoredAt - failedAt) / 1000.0,
        restoreReads.size(),
        fromCache,
        fromRemote,
        fallbacks,
        new ArrayList<>(restoreReads),
        StatefulJob.restarts(),
        stats.getCounts().getNumberOfCompletedCheckpoints(),
        failures,
        completed == 0 ? Double.NaN : (double) durationSum / completed,
        metrics.snapshot(),
        mismatch == null,
        mismatch);
  }

  /** Null when equal; else what differs, briefly. */
  private static String mismatch(
      Map<Long, StatefulJob.KeyResult> expected, Map<Long, StatefulJob.KeyResult> actual) {
    if (expected.equals(actual)) return null;
    int missing = 0;
    int wrong = 0;
    String example = null;
    for (var e : expected.entrySet()) {
      StatefulJob.KeyResult got = actual.get(e.getKey());
      if (got == null) {
        missing++;
      } else if (!got.equals(e.getValue())) {
        wrong++;
        if (example == null) example = "key " + e.getKey() + ": expected " + e.getValue() + ", got " + got;
      }
    }
    return missing + " keys missing, " + wrong + " keys wrong, " + (actual.size() - expected.size() + missing) + " extra" + (example == null ? "" : "; " + example);
  }
}
