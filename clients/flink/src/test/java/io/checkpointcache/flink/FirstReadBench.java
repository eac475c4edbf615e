package io.checkpointcache.flink;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.PutOptions;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;

/**
 * The first {@code ckc://} read of a fresh JVM, with the read path's warm-up on and off, against
 * the plain-file read of the same bytes (what Flink's local recovery does), each sample in a JVM of
 * its own (issue 14). A sample JVM configures the plugin as a TaskManager would have it (Unix
 * socket, cache-dir: the short circuit), creates the file system, idles 2 s (the warm-up's time,
 * longer if it has not ended by then; a TaskManager has more before its first restore), then times one read of a cached file in 16 KiB
 * pieces (as Flink's RocksDB downloader copies a file): open to last byte. {@code file} reads the
 * same bytes through Flink's local file system after the same idle. Modes alternate, rotating the
 * order each repetition; medians and their ratios are printed. A benchmark, not a test: nothing is
 * asserted but that every ckc:// byte came from the short circuit.
 *
 * <pre>
 * mvn -q -B -f clients/pom.xml -P demo test-compile
 * java -cp "$(sed -n 's/^-cp //p' clients/flink/target/demo.argfile)" \
 *   io.checkpointcache.flink.FirstReadBench 5 [written]   # repetitions (fresh JVMs per mode and
 *                                                          # size); written: see main
 * </pre>
 */
public final class FirstReadBench {
  private static final int PIECE = 16 * 1024;
  private static final long IDLE_MS = 2_000;
  private static final int[] SIZES_MIB = {2, 64};
  private static final String[] MODES = {"warm", "cold", "file"};

  private FirstReadBench() {}

  public static void main(String[] args) throws Exception {
    if (args.length > 0 && args[0].equals("sample")) {
      sample(args);
      System.exit(0);
    }
    int repetitions = args.length > 0 ? Integer.parseInt(args[0]) : 5;
    // "written": each sample JVM first writes a small file through ckc:// (SYNC upload), as a
    // TaskManager that has taken checkpoints has: the channel and the target are in use then.
    boolean written = args.length > 1 && args[1].equals("written");
    Path work = Files.createTempDirectory("ckc-first-read-");
    // A few MiB of entries: not refused because a shared machine's disk is nearly full.
    try (TestAgent agent = TestAgent.start(work, List.of("--min-free-percent", "0"))) {
      Path remote = Files.createDirectories(work.resolve("remote"));
      Path spool = Files.createDirectories(work.resolve("spool"));
      try (CheckpointCacheClient client = agent.client()) {
        for (int mib : SIZES_MIB) {
          byte[] data = new byte[mib << 20];
          new Random(mib).nextBytes(data);
          Path file = remote.resolve("state-" + mib + "m");
          Files.write(file, data);
          // The key the plugin reads ckc:///state-<n>m under.
          PathMapping mapping =
              new PathMapping(CheckpointCacheSettings.normaliseTarget(remote.toUri().toString()));
          org.apache.flink.core.fs.Path real =
              mapping.toTarget(new org.apache.flink.core.fs.Path("ckc:///" + file.getFileName()));
          client.put(PathMapping.key(real), data, PutOptions.of("bench", 1));
        }
      }
      Map<String, List<Double>> ms = new LinkedHashMap<>();
      for (int i = 0; i < repetitions; i++) {
        for (int mib : SIZES_MIB) {
          for (int m = 0; m < MODES.length; m++) {
            String mode = MODES[(m + i) % MODES.length];
            String line = runSample(work, agent, remote, spool, mode, mib, written);
            System.out.println(line);
            ms.computeIfAbsent(mode + " " + mib, k -> new ArrayList<>()).add(field(line, "ms"));
          }
        }
      }
      System.out.printf(Locale.ROOT, "first read in a fresh JVM after %d ms idle, median of %d JVMs each:%n", IDLE_MS, repetitions);
      for (int mib : SIZES_MIB) {
        double warm = median(ms.get("warm " + mib));
        double cold = median(ms.get("cold " + mib));
        double file = median(ms.get("file " + mib));
        System.out.printf(
            Locale.ROOT,
            "  %2d MiB: warm-up on %7.1f ms, off %7.1f ms, plain file %6.1f ms;"
                + " on/off %.2f, on/file %.2f, off/file %.2f%n",
            mib, warm, cold, file, warm / cold, warm / file, cold / file);
      }
    } finally {
      try (var files = Files.walk(work)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
    System.exit(0);
  }

  private static String runSample(
      Path work, TestAgent agent, Path remote, Path spool, String mode, int mib, boolean written)
      throws IOException, InterruptedException {
    Path java = Path.of(System.getProperty("java.home"), "bin", "java");
    List<String> command =
        List.of(
            java.toString(),
            "-Xmx512m",
            "-Dckc.testLog=" + work.resolve("sample.log"),
            "-cp",
            System.getProperty("java.class.path"),
            FirstReadBench.class.getName(),
            "sample",
            mode,
            agent.address(),
            remote.toString(),
            agent.home().resolve("cache").toString(),
            spool.toString(),
            "state-" + mib + "m",
            String.valueOf(written));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    if (p.waitFor() != 0 || !out.startsWith("{")) {
      throw new IllegalStateException("sample " + mode + " " + mib + " MiB failed:\n" + out);
    }
    String last = out.substring(out.lastIndexOf('{'));
    return last;
  }

  /**
   * One sample, in its own JVM: args sample mode agent remoteDir cacheDir spoolDir fileName
   * written.
   */
  private static void sample(String[] args) throws Exception {
    String mode = args[1];
    Path remote = Path.of(args[3]);
    Path file = remote.resolve(args[6]);
    long bytes = 0;
    long started;
    double ms;
    String extra = "";
    byte[] buffer = new byte[PIECE];
    if (mode.equals("file")) {
      FileSystem local = FileSystem.getLocalFileSystem();
      Thread.sleep(IDLE_MS);
      started = System.nanoTime();
      try (InputStream in = local.open(new org.apache.flink.core.fs.Path(file.toUri()))) {
        for (int n; (n = in.read(buffer, 0, buffer.length)) >= 0; ) bytes += n;
      }
      ms = (System.nanoTime() - started) / 1e6;
    } else {
      Configuration c = new Configuration();
      c.setString("checkpoint-cache.target", remote.toUri().toString());
      c.setString("checkpoint-cache.agent", args[2]);
      c.setString("checkpoint-cache.cache-dir", args[4]);
      c.setString("checkpoint-cache.spool-dir", args[5]);
      c.setString("checkpoint-cache.upload", "SYNC");
      c.setString("checkpoint-cache.fill-on-miss", "false");
      // A loaded machine must not turn a slow first answer into a fallback: this times the read.
      c.setString("checkpoint-cache.first-message-timeout", "60 s");
      c.setString("checkpoint-cache.warm-up", String.valueOf(mode.equals("warm")));
      // Its one line (what it did, wall and CPU time) goes to the samples' log.
      org.apache.logging.log4j.core.config.Configurator.setLevel(
          WarmUpOnStart.class.getName(), org.apache.logging.log4j.Level.DEBUG);
      long configured = System.nanoTime();
      CheckpointCacheFileSystemFactory factory = new CheckpointCacheFileSystemFactory();
      factory.configure(c);
      FileSystem fs = factory.create(URI.create("ckc:///"));
      if (Boolean.parseBoolean(args[7])) {
        org.apache.flink.core.fs.Path checkpoint =
            new org.apache.flink.core.fs.Path("ckc:///written-" + UUID.randomUUID());
        try (var out = fs.create(checkpoint, FileSystem.WriteMode.NO_OVERWRITE)) {
          out.write(new byte[64 * 1024]);
        }
      }
      Thread.sleep(IDLE_MS);
      // The warm-up's time, and more if a loaded machine needs it (the idle is then reported).
      Thread warmUp = thread("ckc-warm-up");
      if (warmUp != null) warmUp.join(60_000);
      extra = String.format(Locale.ROOT, ",\"idleMs\":%.0f", (System.nanoTime() - configured) / 1e6);
      started = System.nanoTime();
      try (InputStream in = fs.open(new org.apache.flink.core.fs.Path("ckc:///" + args[6]))) {
        for (int n; (n = in.read(buffer, 0, buffer.length)) >= 0; ) bytes += n;
      }
      ms = (System.nanoTime() - started) / 1e6;
      CheckpointCacheMetrics.Snapshot s = CheckpointCacheMetrics.global().snapshot();
      if (s.bytesFromCache() != bytes || s.bytesFromRemote() != 0 || s.uploadsFailed() != 0) {
        throw new IllegalStateException("not all from the cache: " + s);
      }
    }
    if (bytes != Files.size(file)) throw new IllegalStateException("read " + bytes + " bytes");
    System.out.printf(
        Locale.ROOT, "{\"mode\":\"%s\",\"bytes\":%d,\"ms\":%.2f%s}%n", mode, bytes, ms, extra);
  }

  private static Thread thread(String name) {
    return Thread.getAllStackTraces().keySet().stream()
        .filter(t -> t.getName().equals(name))
        .findFirst()
        .orElse(null);
  }

  private static double field(String json, String name) {
    int at = json.indexOf("\"" + name + "\":") + name.length() + 3;
    int end = at;
    while (end < json.length() && "0123456789.".indexOf(json.charAt(end)) >= 0) end++;
    return Double.parseDouble(json.substring(at, end));
  }

  private static double median(List<Double> values) {
    double[] sorted = values.stream().mapToDouble(Double::doubleValue).toArray();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }
}
