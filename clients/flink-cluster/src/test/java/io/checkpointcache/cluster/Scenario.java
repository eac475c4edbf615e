package io.checkpointcache.cluster;

import io.checkpointcache.cluster.job.KeyedStateJob;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One scenario of issue 12 on one set-up: a fresh {@link FlinkRun}, the job submitted through
 * REST, a fault once a few checkpoints completed, then the measurements: restore time (from the
 * fault until every subtask's latest attempt had its state back, as the job itself records it),
 * bytes the storage host sent during the restore (its interface counter: an independent count),
 * bytes the agents served (their ckc_read_bytes_total), and whether the final state is
 * exactly-once.
 */
final class Scenario {
  private static final Duration RESTORE_TIMEOUT = Duration.ofSeconds(240);
  private static final Duration JOB_TIMEOUT = Duration.ofSeconds(600);

  /**
   * The faults (issue 12's scenarios); the victim is the TaskManager running subtask 0. Where the
   * lost subtasks must find room elsewhere, every TaskManager has a spare slot; otherwise each has
   * exactly one, so the restarted job waits for the replacement, as LocalRecoveryITCase's does (a
   * spare slot elsewhere would take the subtask before the replacement registers).
   */
  enum Kind {
    /** Subtask 0 throws; its TaskManager lives. */
    TASK_FAILURE("task-failure", false),
    /** The TaskManager is SIGKILLed; a new one with a new resource id starts on the same node. */
    TM_RESTART_NEW_ID("tm-restart-new-id", false),
    /** As above, restarted with the same resource id and working directory (FLIP-198). */
    TM_RESTART_SAME_ID("tm-restart-same-id", false),
    /** The TaskManager is SIGKILLed and not replaced; the node's other TaskManager has room. */
    TM_LOST_SAME_NODE("tm-lost-same-node", true),
    /** The node's agent and TaskManagers are SIGKILLed; the other nodes have room. */
    NODE_LOST("node-lost", true, false),
    /**
     * NODE_LOST, then, once the job has checkpointed twice on its new placement, subtask 0 (now on
     * the other node) throws: the figures are the second restore's (the first one's follow as
     * {@code first_remote_bytes}, {@code first_cache_bytes}). RocksDB incremental, whatever the
     * shape says: its shared files outlive the first restore, which read them from remote on the
     * new node, so only the plugin's fill on miss lets the second restore read them locally.
     */
    NODE_LOST_THEN_TASK_FAILURE("node-lost-then-task-failure", true, true),
    /**
     * The job is cancelled and submitted again from its retained latest checkpoint with half the
     * parallelism: every new subtask restores the key groups of two old ones.
     */
    RESCALE("rescale", false),
    /**
     * The node's TaskManagers are SIGKILLed and as many new ones start on the other node, while
     * the node's agent keeps running (kubectl drain leaves DaemonSet pods): the moved subtasks'
     * state can come from that agent through peer reads (issue 13).
     */
    NODE_DRAIN("node-drain", false),
    /**
     * No fault: RocksDB incremental, retain 1, at least 20 checkpoints, then the job is cancelled
     * (its latest checkpoint retained) and the bytes all agents hold are compared with the bytes
     * of the files that checkpoint references ({@link RetentionScenario}).
     */
    RETENTION("retention", false, true);

    final String label;
    final boolean spareSlots;
    final boolean incrementalRocksDb;

    Kind(String label, boolean spareSlots) {
      this(label, spareSlots, false);
    }

    Kind(String label, boolean spareSlots, boolean incrementalRocksDb) {
      this.label = label;
      this.spareSlots = spareSlots;
      this.incrementalRocksDb = incrementalRocksDb;
    }

    static Kind of(String label) {
      for (Kind k : values()) if (k.label.equals(label)) return k;
      throw new IllegalArgumentException("unknown scenario " + label);
    }
  }

  /**
   * What one run measured.
   *
   * @param moved subtasks whose latest attempt runs on another node than before the fault
   * @param sinceCheckpointMs how long before the fault the restored checkpoint had completed (an
   *     ASYNC upload still running then is lost with a killed TaskManager)
   * @param extra more {@code name=value} fields for the line, each with a leading space; "" for none
   * @param flink Flink's own figures for the restore ({@link SpanLog}): the slowest subtask's
   *     state initialization, and the bytes its local recovery served
   */
  record Result(
      Kind kind, FlinkRun.Setup setup, long stateBytes, long remoteBytes, long cacheBytes,
      double restoreSeconds, int restarts, int moved, long sinceCheckpointMs, boolean exactlyOnce,
      long peerBytes, List<String> problems, String extra, SpanLog.FlinkRestore flink) {
    Result(
        Kind kind, FlinkRun.Setup setup, long stateBytes, long remoteBytes, long cacheBytes,
        double restoreSeconds, int restarts, int moved, long sinceCheckpointMs, boolean exactlyOnce,
        long peerBytes, List<String> problems, String extra) {
      this(kind, setup, stateBytes, remoteBytes, cacheBytes, restoreSeconds, restarts, moved, sinceCheckpointMs,
          exactlyOnce, peerBytes, problems, extra, SpanLog.FlinkRestore.NONE);
    }

    /**
     * Issue 12's line; peer_bytes, state_s and local_bytes follow it, except for node-drain, whose line (issue
     * 13) has peer_bytes before restore_s.
     */
    String line() {
      if (kind == Kind.RETENTION) return RetentionScenario.line(this);
      boolean drain = kind == Kind.NODE_DRAIN;
      return String.format(
          Locale.ROOT,
          "scenario=%s config=%s remote_bytes=%d cache_bytes=%d%s restore_s=%.2f exactly_once=%s%s state_s=%.2f local_bytes=%d%s",
          kind.label, setup.label, remoteBytes, cacheBytes, drain ? " peer_bytes=" + peerBytes : "",
          restoreSeconds, exactlyOnce ? "yes" : "no", drain ? "" : " peer_bytes=" + peerBytes, flink.stateSeconds(), flink.localBytes(), extra);
    }
  }

  /** A restore as the job recorded it: each subtask's latest attempt, and the counters then. */
  private record Restore(
      Map<Integer, JobFiles.Attempt> attempts, long restoredAt, long remoteBytes, long cacheBytes, long peerBytes) {}

  /**
   * The shape of every run: job size, cluster size (slots per TaskManager: 1, or 2 where the
   * scenario needs spare slots), checkpoint pace.
   */
  record Shape(
      KeyedStateJob.Params job, int parallelism, int tmsPerNode, int taskHeapMb, int managedMb,
      String backend, Duration checkpointInterval, long faultAfterCheckpoint) {}

  private Scenario() {}

  static Result run(Cluster cluster, Path jobJar, Shape shape, Kind kind, FlinkRun.Setup setup)
      throws IOException, InterruptedException {
    if (kind == Kind.RETENTION) {
      return RetentionScenario.run(cluster, jobJar, shape, setup, RetentionScenario.CHECKPOINTS);
    }
    String name = kind.label + "-" + setup.label.replace('+', '-');
    FlinkRun.Options options =
        new FlinkRun.Options(
            setup, shape.tmsPerNode(), kind.spareSlots ? 2 : 1, shape.taskHeapMb(), shape.managedMb(),
            kind.incrementalRocksDb ? "rocksdb" : shape.backend(), shape.checkpointInterval(), Duration.ZERO);
    try (FlinkRun run = FlinkRun.start(cluster, options, name)) {
      int parallelism = shape.parallelism();
      Path out = Files.createDirectories(run.dir().resolve("out"));
      Path trigger = out.resolve("fail-now");
      FlinkRest rest = run.rest();
      String jarId = rest.uploadJar(jobJar);
      KeyedStateJob.Params p = shape.job();
      String jobId =
          rest.runJar(
              jarId, KeyedStateJob.class.getName(),
              List.of("--keys", String.valueOf(p.keys()), "--payload-bytes", String.valueOf(p.payloadBytes()),
                  "--rounds", String.valueOf(p.rounds()), "--out", out.toString(),
                  "--fail-trigger", trigger.toString()),
              parallelism);
      waitUntil("checkpoint " + shape.faultAfterCheckpoint() + " of " + name, JOB_TIMEOUT,
          () -> rest.completedCheckpoints(jobId) >= shape.faultAfterCheckpoint(), rest, jobId);
      // The fault comes half an interval after a checkpoint completed, not at once: a TaskManager
      // killed within moments of a completion takes its not yet finished ASYNC cache uploads with
      // it (measured: then that subtask's files come from remote), and a failure is no likelier
      // then than at any other time.
      long completed = rest.completedCheckpoints(jobId);
      waitUntil("the checkpoint after " + completed + " of " + name, JOB_TIMEOUT,
          () -> rest.completedCheckpoints(jobId) > completed, rest, jobId);
      Thread.sleep(shape.checkpointInterval().toMillis() / 2);
      long checkpointsBefore = rest.completedCheckpoints(jobId);
      long stateBytes = rest.checkpoints(jobId).path("latest").path("completed").path("checkpointed_size").asLong();
      Map<Integer, JobFiles.Attempt> before = JobFiles.latestAttempts(out);
      if (before.size() != parallelism) throw new IllegalStateException(name + ": not every subtask opened");

      if (kind == Kind.RESCALE) {
        return rescale(cluster, run, shape, setup, jarId, jobId, stateBytes, name);
      }
      long remoteBefore = NodeNetwork.bytesSent(cluster.storage);
      long cacheBefore = run.cacheBytesRead();
      long peerBefore = run.peerBytesRead();
      long faultAt = System.currentTimeMillis();
      long stateSince = faultAt;
      FlinkRun.TaskManager victim = run.taskManager(before.get(0).taskManager());
      switch (kind) {
        // Subtask 0's current attempt (not always its first: on a loaded machine a missed
        // heartbeat can restart the job before the fault) throws once its trigger exists.
        case TASK_FAILURE -> Files.writeString(triggerOf(trigger, before.get(0).attempt()), "now\n", StandardCharsets.UTF_8);
        case TM_RESTART_NEW_ID -> {
          run.kill(victim);
          run.startTaskManager(victim.node());
        }
        case TM_RESTART_SAME_ID -> {
          run.kill(victim);
          run.restartSameId(victim);
        }
        case TM_LOST_SAME_NODE -> run.kill(victim);
        case NODE_LOST, NODE_LOST_THEN_TASK_FAILURE -> run.killNode(victim.node());
        case NODE_DRAIN -> {
          // kubectl drain: the node's TaskManagers go, its DaemonSet agent stays; their
          // replacements start on the other node.
          List<FlinkRun.TaskManager> drained =
              run.taskManagers().stream().filter(tm -> tm.node() == victim.node()).toList();
          int other = (victim.node() + 1) % cluster.nodes.size();
          for (FlinkRun.TaskManager tm : drained) run.kill(tm);
          for (int i = 0; i < drained.size(); i++) run.startTaskManager(other);
        }
        case RESCALE -> throw new AssertionError("handled above");
      }

      Restore restore = awaitRestore(name, run, cluster, rest, jobId, out, parallelism, before, checkpointsBefore);
      Map<Integer, JobFiles.Attempt> measuredFrom = before;
      String extra = "";
      if (kind == Kind.NODE_LOST_THEN_TASK_FAILURE) {
        // The first restore's fills (and the new checkpoints' uploads) run in the background: the
        // second fault comes, as the first did, half an interval after a checkpoint, two after
        // the first restore's.
        long afterFirst = rest.completedCheckpoints(jobId);
        waitUntil("two checkpoints after the first restore of " + name, JOB_TIMEOUT,
            () -> rest.completedCheckpoints(jobId) >= afterFirst + 2, rest, jobId);
        Thread.sleep(shape.checkpointInterval().toMillis() / 2);
        measuredFrom = JobFiles.latestAttempts(out);
        long checkpointsBeforeSecond = rest.completedCheckpoints(jobId);
        extra = " first_remote_bytes=" + (restore.remoteBytes() - remoteBefore)
            + " first_cache_bytes=" + (restore.cacheBytes() - cacheBefore)
            + " first_moved=" + moved(restore.attempts(), before);
        remoteBefore = NodeNetwork.bytesSent(cluster.storage);
        cacheBefore = run.cacheBytesRead();
        peerBefore = run.peerBytesRead();
        int attempt = measuredFrom.get(0).attempt();
        stateSince = System.currentTimeMillis();
        Files.writeString(triggerOf(trigger, attempt), "now\n", StandardCharsets.UTF_8);
        restore = awaitRestore(
            name, run, cluster, rest, jobId, out, parallelism, measuredFrom, checkpointsBeforeSecond);
        faultAt = Long.parseLong(
            Files.readString(out.resolve("failed-at-" + attempt), StandardCharsets.UTF_8).trim());
      }
      if (kind == Kind.TASK_FAILURE) {
        // The task's own clock of the failure, not the trigger's: it looks for the file now and then.
        int attempt = before.get(0).attempt();
        faultAt = Long.parseLong(
            Files.readString(out.resolve(attempt == 0 ? "failed-at" : "failed-at-" + attempt), StandardCharsets.UTF_8).trim());
      }
      var restored = rest.checkpoints(jobId).path("latest").path("restored");
      long restoredCompletedAt = completedAt(rest.checkpoints(jobId), restored.path("id").asLong());
      waitUntil("the end of " + name, JOB_TIMEOUT, () -> rest.jobState(jobId).equals("FINISHED"), rest, jobId);
      List<String> problems = JobFiles.checkResults(out, parallelism, p);
      int restarts = restore.attempts().values().stream().mapToInt(JobFiles.Attempt::attempt).max().orElse(0);
      return new Result(
          kind, setup, stateBytes, restore.remoteBytes() - remoteBefore, restore.cacheBytes() - cacheBefore,
          (restore.restoredAt() - faultAt) / 1000.0, restarts, moved(restore.attempts(), measuredFrom),
          restoredCompletedAt > 0 ? faultAt - restoredCompletedAt : -1, problems.isEmpty(),
          restore.peerBytes() - peerBefore, problems, extra, SpanLog.restoreSince(run.spans(), stateSince));
    }
  }

  /**
   * The rescale: cancel the running job (its latest checkpoint is retained), submit it again from
   * that checkpoint with half the parallelism, and measure from the submission until every new
   * subtask had its state back. Every subtask of the new job restores key groups that two old
   * subtasks wrote, from files their nodes' agents cached (or not: without peer reads a file cached
   * only on the other node comes from remote).
   */
  private static Result rescale(
      Cluster cluster, FlinkRun run, Shape shape, FlinkRun.Setup setup, String jarId, String jobId,
      long stateBytes, String name) throws IOException, InterruptedException {
    FlinkRest rest = run.rest();
    var latest = rest.checkpoints(jobId).path("latest").path("completed");
    long checkpointCompletedAt = latest.path("latest_ack_timestamp").asLong(-1);
    rest.cancel(jobId);
    Check cancelled = () -> rest.jobState(jobId).equals("CANCELED");
    long cancelDeadline = System.nanoTime() + JOB_TIMEOUT.toNanos();
    while (!cancelled.holds()) {
      if (System.nanoTime() > cancelDeadline) throw new IllegalStateException(name + ": not cancelled");
      Thread.sleep(100);
    }
    // Read after the cancel: a checkpoint may have completed while the job was being cancelled.
    latest = rest.checkpoints(jobId).path("latest").path("completed");
    String retained = latest.path("external_path").asText();
    if (retained.isEmpty()) throw new IllegalStateException(name + ": no retained checkpoint: " + latest);
    checkpointCompletedAt = latest.path("latest_ack_timestamp").asLong(checkpointCompletedAt);

    int parallelism = Math.max(1, shape.parallelism() / 2);
    Path out = Files.createDirectories(run.dir().resolve("out-rescaled"));
    KeyedStateJob.Params p = shape.job();
    long remoteBefore = NodeNetwork.bytesSent(cluster.storage);
    long cacheBefore = run.cacheBytesRead();
    long peerBefore = run.peerBytesRead();
    long submittedAt = System.currentTimeMillis();
    String rescaled =
        rest.runJar(
            jarId, KeyedStateJob.class.getName(),
            List.of("--keys", String.valueOf(p.keys()), "--payload-bytes", String.valueOf(p.payloadBytes()),
                "--rounds", String.valueOf(p.rounds()), "--out", out.toString()),
            parallelism, retained);
    waitUntil("every subtask of the rescaled " + name + " restored", RESTORE_TIMEOUT,
        () -> JobFiles.latestAttempts(out).size() == parallelism, rest, rescaled);
    long restoredAt =
        JobFiles.latestAttempts(out).values().stream().mapToLong(JobFiles.Attempt::openedAtMs).max().orElseThrow();
    long remoteBytes = NodeNetwork.bytesSent(cluster.storage) - remoteBefore;
    long cacheBytes = run.cacheBytesRead() - cacheBefore;
    long peerBytes = run.peerBytesRead() - peerBefore;
    waitUntil("the end of the rescaled " + name, JOB_TIMEOUT, () -> rest.jobState(rescaled).equals("FINISHED"), rest, rescaled);
    List<String> problems = JobFiles.checkResults(out, parallelism, p);
    int restarts = JobFiles.latestAttempts(out).values().stream().mapToInt(JobFiles.Attempt::attempt).max().orElse(0);
    return new Result(
        Kind.RESCALE, setup, stateBytes, remoteBytes, cacheBytes, (restoredAt - submittedAt) / 1000.0,
        restarts, 0, checkpointCompletedAt > 0 ? submittedAt - checkpointCompletedAt : -1,
        problems.isEmpty(), peerBytes, problems, "", SpanLog.restoreSince(run.spans(), submittedAt));
  }

  /**
   * Waits until every subtask's latest attempt is newer than in {@code before} and restored; a
   * later failover (a first attempt deployed to a dead TaskManager's slots, say) starts the clock
   * over, so the figures are those of the attempts that are still the latest once the job
   * checkpoints again (or ends).
   */
  private static Restore awaitRestore(
      String name, FlinkRun run, Cluster cluster, FlinkRest rest, String jobId, Path out, int parallelism,
      Map<Integer, JobFiles.Attempt> before, long checkpointsBefore) throws IOException, InterruptedException {
    Restore restore = null;
    long deadline = System.nanoTime() + RESTORE_TIMEOUT.toNanos();
    while (true) {
      Map<Integer, JobFiles.Attempt> latest = JobFiles.latestAttempts(out);
      boolean allRestored =
          latest.size() == parallelism
              && latest.entrySet().stream().allMatch(e -> e.getValue().attempt() > before.get(e.getKey()).attempt());
      if (allRestored && (restore == null || !latest.equals(restore.attempts()))) {
        restore = new Restore(
            latest, latest.values().stream().mapToLong(JobFiles.Attempt::openedAtMs).max().orElseThrow(),
            NodeNetwork.bytesSent(cluster.storage), run.cacheBytesRead(), run.peerBytesRead());
      }
      String state = rest.jobState(jobId);
      if (restore != null && (state.equals("FINISHED") || rest.completedCheckpoints(jobId) > checkpointsBefore)) {
        return restore;
      }
      if (state.equals("FAILED") || state.equals("CANCELED")) {
        throw new IllegalStateException(name + ": job " + state + ": " + rootCause(rest.exceptions(jobId)));
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(name + ": no restore within " + RESTORE_TIMEOUT.toSeconds() + " s");
      }
      Thread.sleep(100);
    }
  }

  /** The file that makes attempt {@code attempt} of subtask 0 throw ({@code KeyedStateJob}). */
  private static Path triggerOf(Path trigger, int attempt) {
    return attempt == 0 ? trigger : Path.of(trigger + "-" + attempt);
  }

  /** Subtasks whose attempt in {@code after} runs on another node than in {@code before}. */
  private static int moved(Map<Integer, JobFiles.Attempt> after, Map<Integer, JobFiles.Attempt> before) {
    int moved = 0;
    for (var e : after.entrySet()) {
      if (!nodeOf(e.getValue().taskManager()).equals(nodeOf(before.get(e.getKey()).taskManager()))) moved++;
    }
    return moved;
  }

  /** When checkpoint {@code id} completed (its last acknowledgement, epoch ms); -1 if not listed. */
  private static long completedAt(org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode stats, long id) {
    for (var c : stats.path("history")) {
      if (c.path("id").asLong() == id) return c.path("latest_ack_timestamp").asLong(-1);
    }
    return -1;
  }

  /** TaskManager resource ids start with their node's name ({@code node0-tm3}). */
  private static String nodeOf(String resourceId) {
    int dash = resourceId.indexOf('-');
    return dash < 0 ? resourceId : resourceId.substring(0, dash);
  }

  /**
   * The innermost "Caused by" of the newest exception in Flink's exception history (the whole
   * history is tens of KB of stack traces), or its first 2,000 characters when there is none.
   */
  static String rootCause(String exceptionsJson) {
    int at = exceptionsJson.indexOf("\"stacktrace\":\"");
    String trace = at < 0 ? exceptionsJson : exceptionsJson.substring(at + 14);
    int end = trace.indexOf("\",\"");
    if (end > 0) trace = trace.substring(0, end);
    int cause = trace.lastIndexOf("Caused by: ");
    String line = cause < 0 ? trace : trace.substring(cause);
    int newline = line.indexOf("\\n");
    if (newline > 0) line = line.substring(0, newline);
    return line.length() > 2000 ? line.substring(0, 2000) + "…" : line;
  }

  interface Check {
    boolean holds() throws IOException, InterruptedException;
  }

  static void waitUntil(String what, Duration timeout, Check check, FlinkRest rest, String jobId)
      throws IOException, InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!check.holds()) {
      String state = rest.jobState(jobId);
      if (state.equals("FAILED") || state.equals("CANCELED")) {
        throw new IllegalStateException("waiting for " + what + ": job " + state + ": " + rootCause(rest.exceptions(jobId)));
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("no " + what + " within " + timeout.toSeconds() + " s (job " + state + ")");
      }
      Thread.sleep(200);
    }
  }
}
