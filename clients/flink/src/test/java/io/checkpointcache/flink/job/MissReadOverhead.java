package io.checkpointcache.flink.job;

import io.checkpointcache.flink.CheckpointCacheFileSystemFactory;
import io.checkpointcache.flink.CheckpointCacheMetrics;
import io.checkpointcache.flink.TestAgent;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FileSystem;

/**
 * What fill on miss costs the read that records it: one large file the cache does not hold, read
 * through ckc:// in 16 KiB pieces with {@code checkpoint-cache.fill-on-miss} off and on, then the
 * time until the fill is in the cache and a read of the filled file. The target is a local
 * directory read through {@code slowfile://}, paced to the given MB/s (0: not paced, as fast as
 * a target gets, so the recording's share is as large as it gets). Fill off and on alternate,
 * median of the repetitions; the figures to compare are the ratios.
 * Arguments: MiB per file (128), repetitions (5), target MB/s (0).
 *
 * <pre>
 * mvn -q -B -f clients/pom.xml -P demo test-compile
 * grep -v FlinkRestoreDemo clients/flink/target/demo.argfile &gt; clients/flink/target/miss-read.argfile
 * java @clients/flink/target/miss-read.argfile io.checkpointcache.flink.job.MissReadOverhead 128 5 125
 * </pre>
 */
public final class MissReadOverhead {
  private static final int PIECE = 16 * 1024;

  private MissReadOverhead() {}

  public static void main(String[] args) throws Exception {
    long mb = args.length > 0 ? Long.parseLong(args[0]) : 128;
    int repetitions = args.length > 1 ? Integer.parseInt(args[1]) : 5;
    long remoteMBps = args.length > 2 ? Long.parseLong(args[2]) : 0;
    ThrottledFileSystemFactory.setReadBytesPerSecond(remoteMBps * 1_000_000);
    Path work = Files.createTempDirectory("ckc-miss-read-");
    try {
      measure(work, mb * 1024 * 1024, repetitions, remoteMBps);
    } finally {
      try (var files = Files.walk(work)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
    System.exit(0);
  }

  static void measure(Path work, long bytes, int repetitions, long remoteMBps) throws Exception {
    Path remote = Files.createDirectories(work.resolve("remote"));
    FileSystem.initialize(new Configuration(), null);
    byte[] data = new byte[(int) Math.min(bytes, 8 * 1024 * 1024)];
    new Random(1).nextBytes(data);
    CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();
    double[] off = new double[repetitions];
    double[] on = new double[repetitions];
    double[] filled = new double[repetitions];
    double[] hit = new double[repetitions];
    try (TestAgent agent = TestAgent.start(work)) {
      for (int i = 0; i < repetitions; i++) {
        // One configuration at a time is live (a new one closes the previous connection).
        FileSystem noFill = ckc(agent, remote, work, false);
        for (String name : new String[] {"off-" + i, "on-" + i}) {
          try (var out = Files.newOutputStream(remote.resolve(name))) {
            for (long w = 0; w < bytes; w += data.length) out.write(data, 0, (int) Math.min(data.length, bytes - w));
          }
        }
        off[i] = read(noFill, "ckc:///off-" + i);
        FileSystem fill = ckc(agent, remote, work, true);
        long start = System.nanoTime();
        on[i] = read(fill, "ckc:///on-" + i);
        if (!metrics.awaitUploadsIdle(Duration.ofMinutes(2))) throw new IllegalStateException("fill hung");
        filled[i] = (System.nanoTime() - start) / 1e9;
        hit[i] = read(fill, "ckc:///on-" + i);
      }
      var s = metrics.snapshot();
      System.out.printf(
          Locale.ROOT,
          "miss read of %d MiB in %d KiB pieces, target on local disk paced to %s, median of %d:%n"
              + "  fill on miss off   %.3f s (%.0f MB/s)%n"
              + "  fill on miss on    %.3f s (%.0f MB/s) = %.2f x off%n"
              + "  ... until filled   %.3f s after the read began%n"
              + "  next read (hit)    %.3f s (%.0f MB/s) = %.2f x the miss read without fill%n"
              + "  files filled %d, bytes %d, failed %d, dropped %d%n",
          bytes >> 20, PIECE >> 10, remoteMBps == 0 ? "no limit" : remoteMBps + " MB/s", repetitions,
          median(off), bytes / median(off) / 1e6,
          median(on), bytes / median(on) / 1e6, median(on) / median(off),
          median(filled),
          median(hit), bytes / median(hit) / 1e6, median(hit) / median(off),
          s.filesFilled(), s.filledBytes(), s.fillsFailed(), s.fillsDropped());
    }
  }

  private static FileSystem ckc(TestAgent agent, Path remote, Path work, boolean fill) throws IOException {
    Configuration c = new Configuration();
    c.setString("checkpoint-cache.target", ThrottledFileSystemFactory.SCHEME + "://" + remote.toUri().getPath());
    c.setString("checkpoint-cache.agent", agent.address());
    c.setString("checkpoint-cache.fill-on-miss", String.valueOf(fill));
    c.setString("checkpoint-cache.spool-dir", work.resolve("spool").toString());
    CheckpointCacheFileSystemFactory factory = new CheckpointCacheFileSystemFactory();
    factory.configure(c);
    return factory.create(URI.create("ckc:///"));
  }

  private static double read(FileSystem fs, String path) throws IOException {
    byte[] buffer = new byte[PIECE];
    long start = System.nanoTime();
    try (FSDataInputStream in = fs.open(new org.apache.flink.core.fs.Path(path))) {
      while (in.read(buffer, 0, buffer.length) >= 0) {
        // Drained, as Flink's RocksDB downloader copies a file.
      }
    }
    return (System.nanoTime() - start) / 1e9;
  }

  private static double median(double[] values) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[sorted.length / 2];
  }
}
