package io.checkpointcache.cluster;

import io.checkpointcache.cluster.job.KeyedStateJob;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Issue 13's {@code retention}: does the cache follow Flink's own retention? RocksDB incremental,
 * {@code num-retained} 1, no fault: once the job has completed {@code checkpoints} checkpoints it is
 * cancelled (its latest checkpoint is retained, RETAIN_ON_CANCELLATION), and from then until 10 s
 * after that checkpoint completed the bytes all agents hold together (their {@code
 * ckc_entry_bytes}, the JobManager's node included) are compared with the bytes of the files the
 * retained checkpoint references ({@link RetainedFiles}). The cache holds no more than that once
 * every delete Flink made on subsumption (and on the cancel's aborted checkpoint) reached every
 * node. Printed as {@code retention: cached_bytes=<N> retained_bytes=<M>}.
 *
 * <p>Why cancel: while the job runs, the next checkpoint's new files are written (and cached)
 * before the one they subsume is deleted, so a running job always holds one increment more than
 * its retained checkpoint; the "last completed checkpoint" is the job's last one.
 */
final class RetentionScenario {
  /** The "at least 20 checkpoints". */
  static final int CHECKPOINTS = 20;
  /** The bound, and how long after the last completed checkpoint it must hold. */
  static final double BOUND = 1.1;
  static final Duration WITHIN = Duration.ofSeconds(10);
  private static final long SAMPLE_MS = 200;
  private static final Duration JOB_TIMEOUT = Duration.ofSeconds(900);
  /**
   * Flink's min-pause between checkpoints: the job is cancelled in this quiet time after its
   * checkpoint completed, so no checkpoint is in flight then. A checkpoint the cancel aborts may
   * leave files Flink does not delete (SST files a TaskManager uploaded to {@code shared/} before
   * the abort), which would be neither the retained checkpoint's nor the cache's doing.
   */
  static final Duration QUIET = Duration.ofSeconds(5);

  private RetentionScenario() {}

  /** The line, exactly. */
  static String line(Scenario.Result r) {
    return String.format(Locale.ROOT, "retention: cached_bytes=%d retained_bytes=%d", r.cacheBytes(), r.stateBytes());
  }

  /**
   * What the agents hold that the retained checkpoint does not reference, from their sidecars on
   * disk ({@code <node>/cache/entries/<xx>/<id>.meta}, JSON with the key and size): how many
   * files and bytes, how many of those HDFS still has (Flink did not delete them either), and a
   * few of the keys.
   */
  private static String unretained(Path runDir, Map<String, Long> retained, String hdfsUri) throws IOException {
    java.util.Set<String> wanted = new java.util.HashSet<>();
    for (String f : retained.keySet()) wanted.add(java.net.URI.create(f).getPath());
    var json = new org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper();
    long files = 0;
    long bytes = 0;
    long inHdfs = 0;
    List<String> examples = new ArrayList<>();
    List<Path> sidecars;
    try (var walk = Files.walk(runDir)) {
      sidecars = walk.filter(f -> f.toString().endsWith(".meta") && f.toString().contains("/cache/entries/")).toList();
    }
    try (org.apache.hadoop.fs.FileSystem fs =
        org.apache.hadoop.fs.FileSystem.newInstance(java.net.URI.create(hdfsUri), new org.apache.hadoop.conf.Configuration())) {
      for (Path sidecar : sidecars) {
        var entry = json.readTree(sidecar.toFile());
        String key = entry.path("key").asText();
        String path = java.net.URI.create(key).getPath();
        if (wanted.contains(path)) continue;
        files++;
        bytes += entry.path("size").asLong();
        if (fs.exists(new org.apache.hadoop.fs.Path(hdfsUri + path))) inHdfs++;
        if (examples.size() < 5) examples.add(runDir.relativize(sidecar).getName(0) + ":" + path);
      }
    }
    return String.format(Locale.ROOT, "held but not retained: %d files, %d bytes (%d of the files still in HDFS), e.g. %s",
        files, bytes, inHdfs, examples);
  }

  static Scenario.Result run(
      Cluster cluster, Path jobJar, Scenario.Shape shape, FlinkRun.Setup setup, int checkpoints)
      throws IOException, InterruptedException {
    if (!setup.cache) throw new IllegalArgumentException("retention measures the cache: use a ckc set-up, not " + setup.label);
    String name = "retention-" + setup.label.replace('+', '-');
    FlinkRun.Options options =
        new FlinkRun.Options(
            setup, shape.tmsPerNode(), 1, shape.taskHeapMb(), shape.managedMb(), "rocksdb", shape.checkpointInterval(),
            QUIET);
    try (FlinkRun run = FlinkRun.start(cluster, options, name)) {
      FlinkRest rest = run.rest();
      Path out = Files.createDirectories(run.dir().resolve("out"));
      KeyedStateJob.Params p = shape.job();
      // Two checkpoints per round (the source emits half the keys per checkpoint): enough rounds
      // that the job is still running when it is cancelled.
      int rounds = checkpoints / 2 + 4;
      String jobId =
          rest.runJar(
              rest.uploadJar(jobJar), KeyedStateJob.class.getName(),
              List.of("--keys", String.valueOf(p.keys()), "--payload-bytes", String.valueOf(p.payloadBytes()),
                  "--rounds", String.valueOf(rounds), "--out", out.toString()),
              shape.parallelism());
      Scenario.waitUntil("checkpoint " + checkpoints + " of " + name, JOB_TIMEOUT,
          () -> rest.completedCheckpoints(jobId) >= checkpoints, rest, jobId);
      rest.cancel(jobId);
      long cancelDeadline = System.nanoTime() + JOB_TIMEOUT.toNanos();
      while (!rest.jobState(jobId).equals("CANCELED")) {
        if (System.nanoTime() > cancelDeadline) throw new IllegalStateException(name + ": not cancelled");
        Thread.sleep(100);
      }
      // Read after the cancel: a checkpoint may have completed while the job was being cancelled.
      var stats = rest.checkpoints(jobId);
      var latest = stats.path("latest").path("completed");
      String retained = latest.path("external_path").asText();
      long completedAt = latest.path("latest_ack_timestamp").asLong();
      long completed = stats.path("counts").path("completed").asLong();
      if (retained.isEmpty() || completedAt <= 0) throw new IllegalStateException(name + ": no retained checkpoint: " + latest);
      // What the agents hold, sampled from now until 10 s after the checkpoint (once at least),
      // before the metadata is read: opening HDFS from here takes seconds on a loaded machine.
      long deadline = completedAt + WITHIN.toMillis();
      long held = run.cacheBytesHeld();
      long at = System.currentTimeMillis();
      while (at + SAMPLE_MS < deadline) {
        Thread.sleep(SAMPLE_MS);
        held = run.cacheBytesHeld();
        at = System.currentTimeMillis();
      }
      Map<String, Long> files = RetainedFiles.of(cluster.hdfsUri(), retained);
      long retainedBytes = files.values().stream().mapToLong(Long::longValue).sum();
      List<String> problems = new ArrayList<>();
      if (held > BOUND * retainedBytes) {
        problems.add(String.format(Locale.ROOT, "cached_bytes %d > %.1f x retained_bytes %d at %.2f s after the checkpoint; %s",
            held, BOUND, retainedBytes, (at - completedAt) / 1000.0, unretained(run.dir(), files, cluster.hdfsUri())));
      }
      String extra = String.format(Locale.ROOT,
          " config=%s checkpoints=%d retained_checkpoint=%d retained_files=%d ratio=%.3f after_checkpoint_s=%.2f",
          setup.label, completed, latest.path("id").asLong(), files.size(),
          retainedBytes == 0 ? 0.0 : (double) held / retainedBytes, (at - completedAt) / 1000.0);
      return new Scenario.Result(
          Scenario.Kind.RETENTION, setup, retainedBytes, 0, held, (at - completedAt) / 1000.0, 0, 0,
          at - completedAt, problems.isEmpty(), 0, problems, extra);
    }
  }
}
