package io.checkpointcache.client;

import com.google.protobuf.ByteString;
import io.checkpointcache.v1.EntryInfo;
import io.checkpointcache.v1.LeaseResponse;
import java.io.DataInputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.UUID;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * The read path's warm-up (issue 14). A JVM's first read of an entry pays once for what later
 * reads do not: loading the classes of the Lease and Read calls and of the short circuit,
 * connecting the channel, running the block-verifying loops in the interpreter (measured: 257 ms
 * for the first short-circuited read of a 2 MB entry, 9–25 ms for the next ones; docs/flink.md,
 * section 9). A TaskManager first runs that path at its first restore, where it counts; local
 * recovery reads with JDK classes that are already warm. This pays it ahead, in two parts:
 *
 * <ol>
 *   <li>A synthetic entry in the cache's on-disk layout ({@code entries/<2 hex>/<sha256 of its
 *       key>}, 64 KiB blocks and their CRC32Cs) is written to a directory of its own below the
 *       scratch directory and read through the real reader ({@link CheckpointReadStream}'s short
 *       circuit under {@link SeekableCachedStream}) with a lease made here, the ways Flink reads:
 *       large arrays, small typed reads, seeks. A few rounds, so that C1 compiles the loops.
 *   <li>A read of a key that cannot exist, on this client's channel: {@code Lease}, then {@code
 *       Read}, both {@code NOT_FOUND}: the RPCs a restore makes.
 * </ol>
 *
 * <p>Owns: the synthetic entry (its directory is gone before {@link #run} returns) and the report.
 * Never: writing into the cache directory (the synthetic lease names the scratch directory as its
 * root), creating anything in the agent (only Lease and Read, of a key nobody writes; the agent
 * counts that Read as a miss), counting in the client's {@link CheckpointCacheClient#stats()}
 * (these reads have counters of their own), throwing.
 */
final class ReadPathWarmUp {
  /** Synthetic entry size: 4 spans of the short circuit, 64 blocks. */
  static final int ENTRY_BYTES = 4 * ShortCircuitRead.DIRECT_SPAN;
  /** The agent's default --block-size. */
  static final int BLOCK_SIZE = 64 * 1024;
  /**
   * Rounds over the synthetic entry, at most: about 30,000 calls of the stream's read methods in
   * all, past C1's thresholds (a few hundred calls or 60,000 loop iterations); a few tens of ms of
   * CPU once compiled.
   */
  static final int MAX_ROUNDS = 8;
  /** The rounds stop after this much wall time, whatever is left: a loaded machine gets fewer. */
  static final long ROUNDS_BUDGET_NANOS = 1_000_000_000L;
  /** Keys of the warm-up start with this; nothing writes such a key. */
  static final String KEY_PREFIX = "checkpoint-cache-warm-up/";
  /** Flink's heap backend restores values behind a few header bytes. */
  private static final int VALUE = 16 * 1024;
  private static final int RECORD = 12 + VALUE;

  private final CheckpointCacheClient client;
  private final Path scratchDir;
  private final ClientStats stats = new ClientStats();

  ReadPathWarmUp(CheckpointCacheClient client, Path scratchDir) {
    this.client = client;
    this.scratchDir = scratchDir;
  }

  WarmUpReport run() {
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    long cpuStart = cpuNanos(threads);
    long started = System.nanoTime();
    int rounds = 0;
    String problem = null;
    // Local and bounded first: a hung agent would hold the second part up to two deadlines.
    if (client.shortCircuitSetup() == null) {
      problem = "not read: the client's short circuit is off";
    } else {
      try {
        rounds = readSynthetic();
      } catch (IOException | RuntimeException e) {
        problem = e.toString();
      }
    }
    // Before the second part, whose Lease NOT_FOUND counts as a short-circuit miss here.
    ClientStatsSnapshot s = stats.snapshot();
    String agentAnswer = readMissingKey();
    return new WarmUpReport(
        rounds,
        s.bytesShortCircuit(),
        s.shortCircuitMisses(),
        problem,
        agentAnswer,
        (System.nanoTime() - started) / 1_000_000,
        (cpuNanos(threads) - cpuStart) / 1_000_000);
  }

  /** Writes the synthetic entry, reads it in rounds, deletes it; returns the rounds done. */
  private int readSynthetic() throws IOException {
    Path root = Files.createTempDirectory(scratchDir, "ckc-warm-up-");
    try {
      String key = KEY_PREFIX + UUID.randomUUID();
      String id = sha256Hex(key);
      Path relative = Path.of("entries", id.substring(0, 2), id);
      LeaseResponse lease = writeEntry(root, relative, key);
      ShortCircuitRead.Setup setup =
          new ShortCircuitRead.Setup(leased -> lease, null, client.readAheadExecutor());
      SeekableCachedStream.Opener opener =
          (k, remote, offset, length, remoteOnly, expected) ->
              client.openAt(k, remote, offset, length, remoteOnly, expected, setup, stats);
      byte[] large = new byte[ShortCircuitRead.DIRECT_SPAN];
      byte[] value = new byte[VALUE];
      long started = System.nanoTime();
      int rounds = 0;
      while (rounds < MAX_ROUNDS && System.nanoTime() - started < ROUNDS_BUDGET_NANOS) {
        // Large reads (RocksDB copies its files so): whole blocks straight into the array, and
        // the whole-entry check at the end (a mismatch throws DATA_LOSS: there is no remote).
        try (SeekableCachedStream in = new SeekableCachedStream(opener, key, null, null)) {
          while (in.read(large, 0, large.length) >= 0) {
            // Drained.
          }
        }
        // Small typed reads (the heap backend): spans of whole blocks, the next one read ahead.
        try (DataInputStream in =
            new DataInputStream(new SeekableCachedStream(opener, key, null, null))) {
          for (long at = 0; at + RECORD <= ENTRY_BYTES; at += RECORD) {
            in.readLong();
            in.readInt();
            in.readFully(value);
          }
        }
        // Seeks (a restore reads a file's footer first, then its parts): range reads.
        try (SeekableCachedStream in = new SeekableCachedStream(opener, key, null, null)) {
          for (int part = 7; part >= 0; part--) {
            in.seek((long) part * (ENTRY_BYTES / 8) + 100);
            in.readNBytes(value, 0, 4096);
          }
        }
        rounds++;
      }
      return rounds;
    } finally {
      deleteTree(root);
    }
  }

  /** The entry's bytes at {@code root/relative}, and the lease the agent would grant for it. */
  private static LeaseResponse writeEntry(Path root, Path relative, String key) throws IOException {
    byte[] data = new byte[ENTRY_BYTES];
    for (int i = 0; i < data.length; i++) data[i] = (byte) (i * 31 ^ i >>> 9);
    ByteBuffer blockCrcs = ByteBuffer.allocate(ENTRY_BYTES / BLOCK_SIZE * 4);
    CRC32C block = new CRC32C();
    for (int at = 0; at < data.length; at += BLOCK_SIZE) {
      block.reset();
      block.update(data, at, BLOCK_SIZE);
      blockCrcs.putInt((int) block.getValue());
    }
    CRC32C whole = new CRC32C();
    whole.update(data);
    Path file = root.resolve(relative);
    Files.createDirectories(file.getParent());
    Files.write(file, data);
    long now = System.currentTimeMillis();
    return LeaseResponse.newBuilder()
        .setEntry(
            EntryInfo.newBuilder()
                .setKey(key)
                .setSize(ENTRY_BYTES)
                .setCrc32C((int) whole.getValue())
                .setCreatedAtMs(now)
                .setLastAccessMs(now))
        .setCacheRoot(root.toString())
        .setRelativePath(relative.toString())
        .setBlockSize(BLOCK_SIZE)
        .setBlockCrc32C(ByteString.copyFrom(blockCrcs.flip()))
        // Never renewed within the rounds (a renewal would ask this lease again, harmlessly).
        .setExpiresAtMs(now + 3_600_000)
        .build();
  }

  /**
   * The agent's answer to a read of a key nobody writes, through the client's own short circuit
   * when it is on (Lease NOT_FOUND goes on to Read, which may look for a peer copy and answers
   * NOT_FOUND), with no remote store: the answer ends the read.
   */
  private String readMissingKey() {
    String key = KEY_PREFIX + UUID.randomUUID();
    try (CheckpointReadStream in =
        client.openAt(key, null, 0, null, false, null, client.shortCircuitSetup(), stats)) {
      return in.read(new byte[1]) >= 0 ? "served a key nobody wrote" : "an empty entry";
    } catch (CheckpointCacheException e) {
      return e.rpc() + " " + e.code();
    } catch (IOException | RuntimeException e) {
      return e.toString();
    }
  }

  private static String sha256Hex(String key) {
    try {
      return HexFormat.of()
          .formatHex(
              MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("no SHA-256 in this JVM", e);
    }
  }

  private static void deleteTree(Path root) {
    try (Stream<Path> paths = Files.walk(root)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException | RuntimeException e) {
      // Best effort: a leftover is a few MiB in the plugin's own spool directory.
    }
  }

  private static long cpuNanos(ThreadMXBean threads) {
    return threads.isCurrentThreadCpuTimeSupported() ? threads.getCurrentThreadCpuTime() : 0;
  }
}
