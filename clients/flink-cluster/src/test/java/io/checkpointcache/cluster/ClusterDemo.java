package io.checkpointcache.cluster;

import io.checkpointcache.cluster.job.KeyedStateJob;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * {@code npm run demo:cluster}: a Flink cluster of separate processes on network-namespace nodes,
 * HDFS behind a 1 Gbit/s link, every scenario × set-up asked for, a table, then one line per pair
 * (the format) as the last lines. Needs root (namespaces, tc); says so and exits 2 without.
 *
 * <p>Options: {@code --state-mb N} (default 256), {@code --scenarios a,b}, {@code --setups a,b}
 * (default: every scenario, rescale included; none, local-recovery, ckc, ckc+local-recovery; also ckc+sticky, ckc-sync+sticky, ckc-after-close, ckc-ingest),
 * {@code --tms-per-node N} (default 2), {@code --backend hashmap|rocksdb} (default hashmap;
 * rocksdb checkpoints incrementally), {@code --keep} (keep the work dir under
 * /tmp with every process's log). Exits 1 when a run failed or was not exactly-once.
 */
public final class ClusterDemo {
  /** A private /24 nobody else here uses (the multi-node agent test takes 10.213.7). */
  /** Another /24 with -Dckc.cluster.subnet=10.231.N lets two runs share a machine. */
  static final String SUBNET = System.getProperty("ckc.cluster.subnet", "10.231.12");
  static final int NODES = 2;
  static final int STORAGE_MBIT = 1000;

  private ClusterDemo() {}

  public static void main(String[] args) throws Exception {
    int stateMb = 256;
    int tmsPerNode = 2;
    boolean keep = false;
    String backend = "hashmap";
    // The four; ckc+sticky on request.
    List<FlinkRun.Setup> setups =
        List.of(FlinkRun.Setup.NONE, FlinkRun.Setup.LOCAL_RECOVERY, FlinkRun.Setup.CKC, FlinkRun.Setup.CKC_LOCAL_RECOVERY);
    List<Scenario.Kind> kinds = List.of(Scenario.Kind.values());
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--state-mb" -> stateMb = Integer.parseInt(args[++i]);
        case "--tms-per-node" -> tmsPerNode = Integer.parseInt(args[++i]);
        case "--keep" -> keep = true;
        case "--backend" -> {
          backend = args[++i];
          if (!backend.equals("hashmap") && !backend.equals("rocksdb")) {
            throw new IllegalArgumentException("--backend: hashmap or rocksdb (incremental), not " + backend);
          }
        }
        case "--setups" -> setups = Arrays.stream(args[++i].split(",")).map(FlinkRun.Setup::of).toList();
        case "--scenarios" -> kinds = Arrays.stream(args[++i].split(",")).map(Scenario.Kind::of).toList();
        default -> throw new IllegalArgumentException("unknown option " + args[i]);
      }
    }
    String why = NodeNetwork.unavailableReason();
    if (why != null) {
      System.out.println(
          "cluster demo: not run: it needs root (CAP_NET_ADMIN) to make network namespaces: " + why);
      System.exit(2);
    }
    // 16 KiB per key; the source emits half the keys per checkpoint, so the state is complete
    // after checkpoint 2 and the fault comes after checkpoint 4 of 20.
    int payload = 16 * 1024;
    int keys = Math.max(64, (int) ((long) stateMb * 1024 * 1024 / payload));
    int parallelism = 4;
    Scenario.Shape shape =
        new Scenario.Shape(
            new KeyedStateJob.Params(keys, payload, 10), parallelism, tmsPerNode,
            Math.max(128, stateMb), 64, backend, Duration.ofSeconds(2), 4);
    List<Scenario.Result> results = new ArrayList<>();
    List<String> failures = new ArrayList<>();
    try (Cluster cluster = Cluster.start(Cluster.Inputs.fromSystemProperties(), SUBNET, NODES, STORAGE_MBIT, keep)) {
      System.out.printf(Locale.ROOT,
          "cluster: %d nodes × %d TaskManagers × 1 slot (2 where lost subtasks need room), parallelism %d, %s, %d keys × 16 KiB; HDFS at %s behind %d Mbit/s; work dir %s%n",
          NODES, tmsPerNode, parallelism, backend.equals("rocksdb") ? "rocksdb (incremental)" : "hashmap", keys, cluster.hdfsUri(), STORAGE_MBIT, cluster.work);
      Path jar = JobFiles.buildJar(cluster.inputs.jobClasses(), cluster.work.resolve("job.jar"));
      for (Scenario.Kind kind : kinds) {
        for (FlinkRun.Setup setup : setups) {
          if (kind == Scenario.Kind.RETENTION && !setup.cache) continue; // nothing cached to measure
          try {
            Scenario.Result r = Scenario.run(cluster, jar, shape, kind, setup);
            System.out.println(report(r) + (r.problems().isEmpty() ? "" : " problems=" + r.problems()));
            results.add(r);
          } catch (RuntimeException | java.io.IOException e) {
            String failure = String.format(Locale.ROOT,
                "scenario=%s config=%s remote_bytes=-1 cache_bytes=-1 restore_s=-1.00 exactly_once=no error=%s",
                kind.label, setup.label, e.toString().replace('\n', ' '));
            System.out.println(failure);
            failures.add(failure);
          }
        }
      }
    }
    System.out.println();
    System.out.printf(Locale.ROOT, "%-20s %-20s %9s %10s %10s %9s %7s %8s %6s %12s%n",
        "scenario", "config", "state MB", "MB remote", "MB cache", "restore s", "state s", "restarts", "moved",
        "exactly-once");
    for (Scenario.Result r : results) {
      System.out.printf(Locale.ROOT, "%-20s %-20s %9.1f %10.1f %10.1f %9.2f %7.2f %8d %6d %12s%n",
          r.kind().label, r.setup().label, r.stateBytes() / 1e6, r.remoteBytes() / 1e6, r.cacheBytes() / 1e6,
          r.restoreSeconds(), r.flink().stateSeconds(), r.restarts(), r.moved(),
          r.kind() == Scenario.Kind.RETENTION ? "n/a" : r.exactlyOnce() ? "yes" : "no");
    }
    System.out.println(
        "\nMB remote: bytes the storage host sent while the job restored (its interface counter)."
            + " MB cache: bytes the agents served (ckc_read_bytes_total, plus ckc_leased_bytes_total: what"
            + " the short circuit read from the cache directory). restore s: from the fault until"
            + " every subtask's latest attempt had its state back (the job's own record). state s: Flink's own"
            + " clock of the restore alone, the slowest subtask's state initialization (its JobInitialization"
            + " trace, maxInitializeStateDurationMs); local_bytes on the lines: what Flink says its local"
            + " recovery served (sumRestoredStateSizeBytes.LOCAL_*). moved: subtasks"
            + " placed on another node than before the fault. since_checkpoint_ms: how long before the"
            + " fault the restored checkpoint had completed. retention: MB cache is what the agents"
            + " held, state MB what the retained checkpoint's files hold, restore s when that was"
            + " measured after the checkpoint completed.\n");
    for (Scenario.Result r : results) System.out.println(report(r));
    for (String f : failures) System.out.println(f);
    boolean ok = failures.isEmpty() && results.stream().allMatch(Scenario.Result::exactlyOnce);
    System.exit(ok ? 0 : 1);
  }

  /**
   * A run's line and what follows it; {@code retention}'s line is the exact one, its
   * details on the next line (for it, exactly_once is not measured: the job is cancelled).
   */
  private static String report(Scenario.Result r) {
    if (r.kind() == Scenario.Kind.RETENTION) return r.line() + "\nscenario=retention" + r.extra();
    return r.line() + " moved=" + r.moved() + " since_checkpoint_ms=" + r.sinceCheckpointMs();
  }
}
