package io.checkpointcache.flink.job;

import io.checkpointcache.flink.CheckpointCacheMetrics;
import io.checkpointcache.flink.job.RestoreScenario.Backend;
import io.checkpointcache.flink.job.RestoreScenario.Fault;
import io.checkpointcache.flink.job.RestoreScenario.Run;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * {@code npm run demo:flink}: the restore of a real Flink job with a few hundred MB of keyed state,
 * through the node cache and without it, for the hashmap and RocksDB incremental backends. Each
 * row is one run of {@link StatefulJob} on a MiniCluster (checkpoints every 200 ms, a failure after
 * some checkpoints, Flink restores) with a fresh agent and Redis.
 *
 * <p>The "remote" store is a local directory read through a paced link (default 125 MB/s, i.e.
 * 1 Gbit/s, as the TypeScript demo's), standing in for HDFS: read unpaced, a local disk is as fast
 * as the cache and the comparison would say nothing about a real cluster.
 *
 * <p>Prints the table; the last line is {@code restore: <N> bytes from cache, <M> bytes from
 * remote} for the restores through a healthy cache. Exits 1 when a run's result is not the
 * fault-free one.
 */
public final class FlinkRestoreDemo {
  private static final double MB = 1e6;

  private FlinkRestoreDemo() {}

  public static void main(String[] args) throws Exception {
    long stateMb = 256;
    int payloadKib = 16;
    double remoteMBps = 125;
    boolean keep = false;
    boolean sync = false;
    List<Backend> backends = List.of(Backend.HASHMAP, Backend.ROCKSDB_INCREMENTAL);
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--state-mb" -> stateMb = Long.parseLong(args[++i]);
        case "--payload-kib" -> payloadKib = Integer.parseInt(args[++i]);
        case "--remote-mbps" -> remoteMBps = Double.parseDouble(args[++i]);
        case "--backend" -> backends = parseBackends(args[++i]);
        case "--sync" -> sync = true;
        case "--keep" -> keep = true;
        case "--help", "-h" -> {
          System.out.println(
              """
              usage: demo:flink [--state-mb N] [--payload-kib N] [--remote-mbps R] \
              [--backend hashmap|rocksdb|both] [--sync] [--keep]
                --state-mb     keyed state of the job in MB (default 256)
                --payload-kib  state per key in KiB (default 16); keys = state / payload
                --remote-mbps  read bandwidth of the stand-in remote store, MB/s (default 125,
                               i.e. 1 Gbit/s; 0 = a local disk, unpaced)
                --backend      which state backends to run (default both)
                --sync         also run with checkpoint-cache.upload=SYNC (close waits for the copy)
                --keep         keep the work directory (checkpoints, agent logs)""");
          return;
        }
        default -> throw new IllegalArgumentException("unknown option " + args[i] + " (see --help)");
      }
    }
    int payloadBytes = payloadKib * 1024;
    int keys = (int) Math.max(2, stateMb * 1_000_000 / payloadBytes);
    // ~2 checkpoints until every key holds state, the failure after the 3rd, ~6 in all.
    StatefulJob.Params params = new StatefulJob.Params(keys, payloadBytes, 3, 3, 2);
    ThrottledFileSystemFactory.setReadBytesPerSecond((long) (remoteMBps * MB));
    RestoreScenario.Options paced =
        new RestoreScenario.Options("async", remoteMBps > 0 ? ThrottledFileSystemFactory.SCHEME : "file");

    Path work = Files.createTempDirectory("ckc-flink-demo-");
    System.out.printf(
        Locale.ROOT,
        "Flink %s MiniCluster, parallelism %d; state %.1f MB (%d keys x %d KiB); remote = local"
            + " directory read at %s; work dir %s%n%n",
        org.apache.flink.runtime.util.EnvironmentInformation.getVersion(),
        params.parallelism(),
        params.stateBytes() / MB,
        keys,
        payloadKib,
        remoteMBps > 0 ? String.format(Locale.ROOT, "%.0f MB/s", remoteMBps) : "disk speed (unpaced)",
        work);

    List<Row> rows = new ArrayList<>();
    boolean allExact = true;
    WriteOverhead.Result write;
    try {
      System.err.println("measuring the write overhead ...");
      write = WriteOverhead.measure(work, params.stateBytes() / params.parallelism(), 3);
      for (Backend backend : backends) {
        List<Row> plan = new ArrayList<>();
        plan.add(new Row(Fault.NO_CACHE, paced, "no plugin (remote only)"));
        plan.add(new Row(Fault.AGENT_STOPPED, paced, "ckc://, agent stopped"));
        plan.add(new Row(Fault.NONE, paced, "ckc://, from the cache"));
        if (sync) {
          plan.add(
              new Row(
                  Fault.NONE,
                  new RestoreScenario.Options("sync", paced.remoteScheme()),
                  "ckc://, cache, SYNC upload"));
        }
        plan.add(new Row(Fault.CACHE_CORRUPTED, paced, "ckc://, cache corrupted"));
        for (Row row : plan) {
          System.err.printf("running %s / %s ...%n", backend.label, row.label);
          row.run = RestoreScenario.run(work, backend, row.fault, params, row.options);
          allExact &= row.run.exactlyOnce();
          rows.add(row);
        }
      }
    } finally {
      if (!keep) deleteRecursively(work);
    }

    System.out.printf(
        Locale.ROOT,
        "Writing one %.0f MB checkpoint file (4 KiB writes, local disk, median of 3):%n"
            + "  real file system only          %6.2f s%n"
            + "  ckc://, ASYNC upload (default) %6.2f s until close() returns (%+.0f%%),"
            + " in the cache %.2f s after the write began%n"
            + "  ckc://, SYNC upload            %6.2f s until close() returns (%+.0f%%)%n%n",
        write.bytes() / MB,
        write.directSeconds(),
        write.asyncCloseSeconds(),
        100 * (write.asyncCloseSeconds() / write.directSeconds() - 1),
        write.asyncCachedSeconds(),
        write.syncSeconds(),
        100 * (write.syncSeconds() / write.directSeconds() - 1));

    String format = "%-19s  %-26s  %13s  %9s  %13s  %14s  %-14s  %7s  %-18s  %s%n";
    System.out.printf(
        Locale.ROOT, format, "backend", "restore", "checkpoint MB", "restore s", "MB from cache",
        "MB from remote", "fallbacks", "ckpt ms", "uploads ok/dropped", "exactly-once");
    System.out.printf(
        Locale.ROOT, format, "-".repeat(19), "-".repeat(26), "-".repeat(13), "-".repeat(9),
        "-".repeat(13), "-".repeat(14), "-".repeat(14), "-".repeat(7), "-".repeat(18),
        "-".repeat(12));
    long fromCache = 0;
    long fromRemote = 0;
    long dropped = 0;
    for (Row row : rows) {
      Run r = row.run;
      boolean plugin = r.fault() != Fault.NO_CACHE;
      dropped += r.metrics().uploadsDropped();
      System.out.printf(
          Locale.ROOT,
          "%-19s  %-26s  %13.1f  %9.2f  %13s  %14s  %-14s  %7.0f  %-18s  %s%n",
          r.backend().label,
          row.label,
          r.checkpointBytes() / MB,
          r.restoreSeconds(),
          plugin ? String.format(Locale.ROOT, "%.1f", r.restoreBytesFromCache() / MB) : "-",
          plugin ? String.format(Locale.ROOT, "%.1f", r.restoreBytesFromRemote() / MB) : "-",
          r.restoreFallbacks().isEmpty() ? "-" : r.restoreFallbacks().toString().replaceAll("[{} ]", ""),
          r.avgCheckpointMillis(),
          plugin ? uploads(r.metrics()) : "-",
          r.exactlyOnce() ? "yes" : "NO: " + r.mismatch());
      if (r.fault() == Fault.NONE && row.options.uploadMode().equals("async")) {
        fromCache += r.restoreBytesFromCache();
        fromRemote += r.restoreBytesFromRemote();
      }
    }
    System.out.println();
    System.out.println(
        "restore s: from the injected failure until every subtask had its state back."
            + " ckpt ms: mean checkpoint duration of the run (async upload unless noted).");
    System.out.println(
        "uploads ok/dropped: files copied into the cache over the run / files not copied because"
            + " the upload queue was full (failed or cancelled ones, if any, follow).");
    System.out.println(
        allExact
            ? "Every run's final state equals the fault-free run's (exactly-once)."
            : "SOME RUNS DIFFER FROM THE FAULT-FREE RESULT.");
    System.out.println("restore: " + fromCache + " bytes from cache, " + fromRemote + " bytes from remote");
    System.out.println("uploads dropped over all runs: " + dropped);
    if (!allExact) System.exit(1);
  }

  /** "412/0", plus ", 2 failed" or ", 1 cancelled" when there were any. */
  private static String uploads(CheckpointCacheMetrics.Snapshot m) {
    String s = m.uploadsSucceeded() + "/" + m.uploadsDropped();
    if (m.uploadsFailed() > 0) s += ", " + m.uploadsFailed() + " failed";
    if (m.uploadsCancelled() > 0) s += ", " + m.uploadsCancelled() + " cancelled";
    return s;
  }

  private static List<Backend> parseBackends(String value) {
    return switch (value) {
      case "hashmap" -> List.of(Backend.HASHMAP);
      case "rocksdb" -> List.of(Backend.ROCKSDB_INCREMENTAL);
      case "both" -> List.of(Backend.HASHMAP, Backend.ROCKSDB_INCREMENTAL);
      default -> throw new IllegalArgumentException("--backend hashmap|rocksdb|both, got " + value);
    };
  }

  private static void deleteRecursively(Path dir) throws java.io.IOException {
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
    }
  }

  private static final class Row {
    final Fault fault;
    final RestoreScenario.Options options;
    final String label;
    Run run;

    Row(Fault fault, RestoreScenario.Options options, String label) {
      this.fault = fault;
      this.options = options;
      this.label = label;
    }
  }
}
