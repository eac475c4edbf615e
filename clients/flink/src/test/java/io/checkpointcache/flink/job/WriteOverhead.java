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
import java.util.Random;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;

/**
 * What the plugin costs a checkpoint write, without Flink around it: one large file written in
 * 4 KiB pieces (Flink's default state write buffer) straight to the real file system, and through
 * ckc:// with ASYNC and SYNC uploads. Median of a few repetitions.
 */
public final class WriteOverhead {
  /**
   * @param directSeconds the real file system alone
   * @param asyncCloseSeconds ckc:// ASYNC: until close() returned (what the checkpoint waits for)
   * @param asyncCachedSeconds ckc:// ASYNC: until the copy was in the cache
   * @param syncSeconds ckc:// SYNC: until close() returned, the copy then being in the cache
   */
  public record Result(
      long bytes,
      double directSeconds,
      double asyncCloseSeconds,
      double asyncCachedSeconds,
      double syncSeconds) {}

  private WriteOverhead() {}

  public static Result measure(Path work, long bytes, int repetitions) throws Exception {
    Path dir = Files.createDirectories(work.resolve("write"));
    Path remote = Files.createDirectories(dir.resolve("remote"));
    byte[] piece = new byte[4096];
    new Random(1).nextBytes(piece);
    try (TestAgent agent = TestAgent.start(dir)) {
      FileSystem direct = FileSystem.getLocalFileSystem();
      FileSystem async = ckc(agent, remote, dir, "async");
      double[] d = new double[repetitions];
      double[] ac = new double[repetitions];
      double[] ak = new double[repetitions];
      double[] s = new double[repetitions];
      for (int i = 0; i < repetitions; i++) {
        d[i] = write(direct, new org.apache.flink.core.fs.Path(remote.resolve("direct-" + i).toUri()), bytes, piece);
        long start = System.nanoTime();
        ac[i] = write(async, new org.apache.flink.core.fs.Path("ckc:///async-" + i), bytes, piece);
        CheckpointCacheMetrics.global().awaitUploadsIdle(Duration.ofMinutes(2));
        ak[i] = (System.nanoTime() - start) / 1e9;
      }
      FileSystem sync = ckc(agent, remote, dir, "sync");
      for (int i = 0; i < repetitions; i++) {
        s[i] = write(sync, new org.apache.flink.core.fs.Path("ckc:///sync-" + i), bytes, piece);
      }
      return new Result(bytes, median(d), median(ac), median(ak), median(s));
    } finally {
      FileSystem.initialize(new Configuration(), null);
    }
  }

  private static FileSystem ckc(TestAgent agent, Path remote, Path dir, String upload)
      throws IOException {
    Configuration c = new Configuration();
    c.setString("checkpoint-cache.target", remote.toUri().toString());
    c.setString("checkpoint-cache.agent", agent.address());
    c.setString("checkpoint-cache.upload", upload);
    c.setString("checkpoint-cache.spool-dir", dir.resolve("spool").toString());
    CheckpointCacheFileSystemFactory factory = new CheckpointCacheFileSystemFactory();
    factory.configure(c);
    return factory.create(URI.create("ckc:///"));
  }

  private static double write(FileSystem fs, org.apache.flink.core.fs.Path p, long bytes, byte[] piece)
      throws IOException {
    long start = System.nanoTime();
    try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
      for (long written = 0; written < bytes; written += piece.length) {
        out.write(piece, 0, (int) Math.min(piece.length, bytes - written));
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
