package io.checkpointcache.flink;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;

/**
 * How long after a checkpoint file's {@code close()} its copy is committed in the cache: the
 * window in which a fault finds the newest checkpoint not cached. One file of {@code size} MiB is
 * written through ckc:// (target: a local directory) paced at {@code rate} MB/s, as a subtask
 * writes to HDFS over a shared link, to a real agent; uploads after close ({@code
 * upload.streams=0}, the old path) and streamed while written ({@code upload.streams=4}), ASYNC
 * and SYNC, and uploads after close handed to the agent by name ({@code ingest-dir}), interleaved
 * round by round in one JVM after one warm-up round. Prints per mode the
 * median, min and max of: close() (ms) and close() returning → upload counted as committed (ms).
 *
 * <p>Run (the demo's class path, as {@code MissReadOverhead} does): {@code mvn -q -B -f
 * clients/pom.xml -P demo test-compile}, {@code grep -v FlinkRestoreDemo
 * clients/flink/target/demo.argfile > clients/flink/target/upload-window.argfile}, {@code java
 * @clients/flink/target/upload-window.argfile io.checkpointcache.flink.UploadWindowBench [rounds]
 * [size MiB] [rate MB/s]}.
 *
 * <p>Owns: timing only. Never: asserting anything (a benchmark, not a test).
 */
public final class UploadWindowBench {
  private static final int MIB = 1024 * 1024;
  /** Flink's checkpoint streams write through a buffer of this order. */
  private static final int WRITE = 64 * 1024;

  private UploadWindowBench() {}

  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 5;
    int sizeMiB = args.length > 1 ? Integer.parseInt(args[1]) : 64;
    double rateMBs = args.length > 2 ? Double.parseDouble(args[2]) : 30;
    Path home = Files.createTempDirectory("ckc-upload-bench-");
    byte[] data = new byte[sizeMiB * MIB];
    new Random(1).nextBytes(data);
    Map<String, List<double[]>> results = new LinkedHashMap<>();
    try (TestAgent agent = startAgent(home)) {
      Path remote = Files.createDirectories(home.resolve("remote"));
      // Upload mode and stream slots. A file system is made per file: the plugin keeps one
      // connection per process, and another configuration closes the previous one.
      Map<String, Object[]> modes = new LinkedHashMap<>();
      modes.put("async-after-close", new Object[] {"async", 0});
      modes.put("async-streamed", new Object[] {"async", 4});
      modes.put("sync-after-close", new Object[] {"sync", 0});
      modes.put("sync-streamed", new Object[] {"sync", 4});
      // After close, handed to the agent by name (checkpoint-cache.ingest-dir).
      modes.put("async-after-close-ingest", new Object[] {"async", 0, true});
      modes.put("sync-after-close-ingest", new Object[] {"sync", 0, true});
      for (int round = 0; round <= rounds; round++) {
        for (var mode : modes.entrySet()) {
          Object[] m = mode.getValue();
          boolean ingest = m.length > 2 && (Boolean) m[2];
          FileSystem fs = fs(agent, remote, home, (String) m[0], (Integer) m[1], ingest);
          double[] r = once(fs, data, rateMBs, mode.getKey() + "-" + round);
          if (round > 0) results.computeIfAbsent(mode.getKey(), k -> new ArrayList<>()).add(r);
        }
      }
    } finally {
      try (var files = Files.walk(home)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
    System.out.printf(
        Locale.ROOT,
        "file %d MiB written at %.0f MB/s in %d KiB writes, %d rounds (+1 warm-up)%n",
        sizeMiB, rateMBs, WRITE / 1024, rounds);
    System.out.println("mode | close() ms median (min-max) | close → committed ms median (min-max)");
    for (var e : results.entrySet()) {
      System.out.printf(
          Locale.ROOT,
          "%s | %s | %s%n",
          e.getKey(),
          summary(e.getValue(), 0),
          summary(e.getValue(), 1));
    }
  }

  /** On a loaded machine a niced agent may miss TestAgent's 30 s start-up limit: try thrice. */
  private static TestAgent startAgent(Path home) throws Exception {
    for (int attempt = 1; ; attempt++) {
      try {
        return TestAgent.start(home, List.of("--ingest-dir", ingestDir(home).toString()));
      } catch (IllegalStateException e) {
        if (attempt == 3) throw e;
        System.err.println("agent start-up failed, again: " + e.getMessage());
      }
    }
  }

  private static Path ingestDir(Path home) throws java.io.IOException {
    return Files.createDirectories(home.resolve("ingest"));
  }

  private static FileSystem fs(
      TestAgent agent, Path remote, Path home, String upload, int streams, boolean ingest)
      throws Exception {
    Configuration c = new Configuration();
    c.setString("checkpoint-cache.target", remote.toUri().toString());
    c.setString("checkpoint-cache.agent", agent.address());
    c.setString("checkpoint-cache.upload", upload);
    c.setString("checkpoint-cache.upload.streams", String.valueOf(streams));
    c.setString("checkpoint-cache.spool-dir", home.resolve("spool").toString());
    if (ingest) c.setString("checkpoint-cache.ingest-dir", ingestDir(home).toString());
    CheckpointCacheFileSystemFactory factory = new CheckpointCacheFileSystemFactory();
    factory.configure(c);
    return factory.create(URI.create("ckc:///"));
  }

  /** {close() ms, close() returned → committed ms}. */
  private static double[] once(FileSystem fs, byte[] data, double rateMBs, String name)
      throws Exception {
    CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();
    if (!metrics.awaitUploadsIdle(java.time.Duration.ofSeconds(60))) {
      throw new IllegalStateException("uploads of the previous round did not finish");
    }
    long succeededBefore = metrics.snapshot().uploadsSucceeded();
    org.apache.flink.core.fs.Path p =
        new org.apache.flink.core.fs.Path("ckc:///bench/00000000000000000000000000000abc/chk-1/" + name);
    FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE);
    long start = System.nanoTime();
    for (int off = 0; off < data.length; off += WRITE) {
      out.write(data, off, Math.min(WRITE, data.length - off));
      long due = start + (long) ((off + WRITE) / (rateMBs * 1e6) * 1e9);
      long wait = due - System.nanoTime();
      if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
    }
    long closeStart = System.nanoTime();
    out.close();
    long closed = System.nanoTime();
    while (metrics.snapshot().uploadsSucceeded() == succeededBefore) {
      if (metrics.snapshot().pendingUploads() == 0 && metrics.snapshot().uploadsSucceeded() == succeededBefore) {
        throw new IllegalStateException(name + " was not cached: " + metrics.snapshot());
      }
      Thread.sleep(0, 200_000);
    }
    long committed = System.nanoTime();
    fs.delete(p, false);
    return new double[] {(closed - closeStart) / 1e6, Math.max(0, committed - closed) / 1e6};
  }

  private static String summary(List<double[]> runs, int field) {
    double[] v = runs.stream().mapToDouble(r -> r[field]).sorted().toArray();
    double median = v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    return String.format(Locale.ROOT, "%.1f (%.1f-%.1f)", median, v[0], v[v.length - 1]);
  }
}
