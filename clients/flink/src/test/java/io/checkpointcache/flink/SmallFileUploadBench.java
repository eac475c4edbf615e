package io.checkpointcache.flink;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;

/**
 * Small files cached per second through ckc:// (ASYNC, 2 upload threads; {@code upload.streams}
 * 0, every file after close, unless a fourth argument says otherwise), batched ({@code upload.batch-max-bytes} 64 kb, the
 * default) against one Write each ({@code 0}), into one real agent started with {@code
 * --pack-max-bytes 64KiB}; target: a local directory. Each round writes {@code files} files of
 * {@code size} bytes as fast as one thread can and times first create → every upload counted;
 * modes interleaved round by round after one warm-up round. Prints per mode files/s (median, min,
 * max) and the uploads that failed or were dropped.
 *
 * <p>Run: {@code mvn -q -B -f clients/pom.xml -P demo test-compile}, {@code sed
 * 's/job.FlinkRestoreDemo/SmallFileUploadBench/; s/-Xmx3g/-Xmx1g/' clients/flink/target/demo.argfile >
 * clients/flink/target/small-files.argfile}, {@code java @clients/flink/target/small-files.argfile
 * [rounds] [files] [size bytes] [upload.streams]}.
 *
 * <p>Owns: timing only. Never: asserting anything (a benchmark, not a test).
 */
public final class SmallFileUploadBench {
  private static final String JOB = "00000000000000000000000000000b0b";

  private SmallFileUploadBench() {}

  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 3;
    int files = args.length > 1 ? Integer.parseInt(args[1]) : 2000;
    int size = args.length > 2 ? Integer.parseInt(args[2]) : 4096;
    int streams = args.length > 3 ? Integer.parseInt(args[3]) : 0;
    Path home = Files.createTempDirectory("ckc-small-files-bench-");
    byte[] data = SharedTestAgent.bytes(size, 1);
    Map<String, String> modes = new LinkedHashMap<>();
    modes.put("batched", "64 kb");
    modes.put("one-write-each", "0");
    Map<String, List<Double>> perSecond = new LinkedHashMap<>();
    long lost = 0;
    CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();
    try (TestAgent agent = TestAgent.start(home, List.of("--pack-max-bytes", "64KiB"))) {
      Path remote = Files.createDirectories(home.resolve("remote"));
      for (int round = 0; round <= rounds; round++) {
        for (var mode : modes.entrySet()) {
          FileSystem fs = fileSystem(agent, remote, home, mode.getValue(), streams);
          metrics.reset();
          String dir = "ckc:///ckpt/" + JOB + "/chk-" + round + "/" + mode.getKey() + "/";
          long start = System.nanoTime();
          for (int i = 0; i < files; i++) {
            try (FSDataOutputStream out =
                fs.create(new org.apache.flink.core.fs.Path(dir + i), WriteMode.NO_OVERWRITE)) {
              out.write(data);
            }
          }
          if (!metrics.awaitUploadsIdle(Duration.ofMinutes(5))) throw new IllegalStateException("stuck");
          double seconds = (System.nanoTime() - start) / 1e9;
          var s = metrics.snapshot();
          lost += s.uploadsFailed() + s.uploadsDropped();
          if (round > 0) {
            perSecond.computeIfAbsent(mode.getKey(), k -> new ArrayList<>()).add(files / seconds);
          }
          System.out.printf(
              Locale.ROOT,
              "round %d %s: %.0f files/s (%d cached, %d batched)%n",
              round, mode.getKey(), files / seconds, s.uploadsSucceeded(), s.uploadsBatched());
        }
      }
    } finally {
      try (var all = Files.walk(home)) {
        all.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
      }
    }
    System.out.printf(
        Locale.ROOT,
        "%d files of %d bytes a round, %d rounds (+1 warm-up), upload.streams %d%n",
        files, size, rounds, streams);
    for (var e : perSecond.entrySet()) {
      List<Double> v = e.getValue().stream().sorted().toList();
      System.out.printf(
          Locale.ROOT,
          "%s: %.0f files/s median (%.0f-%.0f)%n",
          e.getKey(), v.get(v.size() / 2), v.get(0), v.get(v.size() - 1));
    }
    System.out.println("uploads failed or dropped over all rounds: " + lost);
  }

  private static FileSystem fileSystem(
      TestAgent agent, Path remote, Path home, String batch, int streams) throws Exception {
    Configuration c = new Configuration();
    c.setString("checkpoint-cache.target", remote.toUri().toString());
    c.setString("checkpoint-cache.agent", agent.address());
    c.setString("checkpoint-cache.upload", "async");
    c.setString("checkpoint-cache.upload.streams", String.valueOf(streams));
    // Room for every file of a round: the subject is throughput, not the queue's drops.
    c.setString("checkpoint-cache.upload.max-pending", "100000");
    c.setString("checkpoint-cache.upload.batch-max-bytes", batch);
    c.setString("checkpoint-cache.spool-dir", home.resolve("spool").toString());
    CheckpointCacheFileSystemFactory factory = new CheckpointCacheFileSystemFactory();
    factory.configure(c);
    return factory.create(URI.create("ckc:///"));
  }
}
