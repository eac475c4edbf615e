package io.checkpointcache.flink;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import javax.management.ObjectName;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The plugin's counters, one set per class loader (one per TaskManager or JobManager process when
 * loaded from Flink's plugins/ folder): where read bytes came from, why reads left the cache, what
 * was copied into it. Also a bounded log of the last reads, so a test or an operator can tell
 * which files a restore read and from where. Fills (files a read got from the target, copied into
 * the cache afterwards) are counted apart from uploads of written files, but share their queue
 * and so {@link #awaitUploadsIdle}.
 *
 * <p>A file system has no metric group in Flink, so the counters are exported as a JMX MXBean,
 * {@code io.checkpointcache.flink:type=CheckpointCacheFileSystem,name=<loader>}, which Flink's
 * JMX reporter or a Prometheus JMX exporter can scrape, and which tests read across the plugin
 * class loader.
 * Owns: the counters. Never: I/O.
 */
public final class CheckpointCacheMetrics {
  private static final Logger LOG = LoggerFactory.getLogger(CheckpointCacheMetrics.class);
  private static final int READ_LOG_CAPACITY = 10_000;
  private static final CheckpointCacheMetrics GLOBAL = new CheckpointCacheMetrics().register();

  /**
   * One finished read of a file (an {@code open()} through {@code close()}, seeks included).
   *
   * @param fallbackReason why the read left the cache (the client's FallbackReason name, e.g.
   *     NOT_FOUND, UNAVAILABLE, DATA_LOSS, CHECKSUM_MISMATCH); null when it did not
   */
  public record ReadRecord(
      String key,
      long bytesFromCache,
      long bytesFromRemote,
      String fallbackReason,
      long openedAtMillis,
      long closedAtMillis) {}

  /** The counters at one moment. */
  public record Snapshot(
      long reads,
      long bytesFromCache,
      long bytesFromRemote,
      Map<String, Long> fallbacks,
      long filesWritten,
      long bytesWritten,
      long uploadsSucceeded,
      long uploadsFailed,
      long uploadsDropped,
      long uploadsCancelled,
      long uploadedBytes,
      long uploadNanos,
      int pendingUploads,
      long cacheDeletes,
      long cacheDeleteFailures,
      long filesFilled,
      long filledBytes,
      long fillsFailed,
      long fillsDropped,
      long fillsCancelled,
      long uploadsBatched) {
    public Snapshot {
      fallbacks = Map.copyOf(fallbacks);
    }

    /** Fallbacks of one reason (a FallbackReason name); 0 when none. */
    public long fallbacks(String reason) {
      return fallbacks.getOrDefault(reason, 0L);
    }

    public long totalFallbacks() {
      return fallbacks.values().stream().mapToLong(Long::longValue).sum();
    }
  }

  private final LongAdder reads = new LongAdder();
  private final LongAdder bytesFromCache = new LongAdder();
  private final LongAdder bytesFromRemote = new LongAdder();
  private final Map<String, LongAdder> fallbacks = new ConcurrentHashMap<>();
  private final LongAdder filesWritten = new LongAdder();
  private final LongAdder bytesWritten = new LongAdder();
  private final LongAdder uploadsSucceeded = new LongAdder();
  private final LongAdder uploadsFailed = new LongAdder();
  private final LongAdder uploadsDropped = new LongAdder();
  private final LongAdder uploadsCancelled = new LongAdder();
  private final LongAdder uploadedBytes = new LongAdder();
  private final LongAdder uploadNanos = new LongAdder();
  private final AtomicInteger pendingUploads = new AtomicInteger();
  private final LongAdder cacheDeletes = new LongAdder();
  private final LongAdder cacheDeleteFailures = new LongAdder();
  private final LongAdder filesFilled = new LongAdder();
  private final LongAdder filledBytes = new LongAdder();
  private final LongAdder fillsFailed = new LongAdder();
  private final LongAdder fillsDropped = new LongAdder();
  private final LongAdder fillsCancelled = new LongAdder();
  private final LongAdder uploadsBatched = new LongAdder();
  private final ArrayDeque<ReadRecord> readLog = new ArrayDeque<>();

  CheckpointCacheMetrics() {}

  /** The counters of this class loader's plugin instance. */
  public static CheckpointCacheMetrics global() {
    return GLOBAL;
  }

  public Snapshot snapshot() {
    Map<String, Long> byReason = new TreeMap<>();
    fallbacks.forEach((reason, n) -> byReason.put(reason, n.sum()));
    return new Snapshot(
        reads.sum(),
        bytesFromCache.sum(),
        bytesFromRemote.sum(),
        byReason,
        filesWritten.sum(),
        bytesWritten.sum(),
        uploadsSucceeded.sum(),
        uploadsFailed.sum(),
        uploadsDropped.sum(),
        uploadsCancelled.sum(),
        uploadedBytes.sum(),
        uploadNanos.sum(),
        pendingUploads.get(),
        cacheDeletes.sum(),
        cacheDeleteFailures.sum(),
        filesFilled.sum(),
        filledBytes.sum(),
        fillsFailed.sum(),
        fillsDropped.sum(),
        fillsCancelled.sum(),
        uploadsBatched.sum());
  }

  /** The last reads (at most 10,000), oldest first. */
  public List<ReadRecord> reads() {
    synchronized (readLog) {
      return List.copyOf(readLog);
    }
  }

  /** Reads opened at or after {@code millis} (epoch milliseconds). */
  public List<ReadRecord> readsOpenedSince(long millis) {
    return reads().stream().filter(r -> r.openedAtMillis() >= millis).toList();
  }

  /** Waits until no upload (nor fill) is queued or running; false when {@code timeout} passed first. */
  public boolean awaitUploadsIdle(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (pendingUploads.get() > 0) {
      if (System.nanoTime() > deadline) return false;
      Thread.sleep(5);
    }
    return true;
  }

  /** Zeroes every counter and the read log (tests, the demo); pending uploads are kept. */
  public void reset() {
    for (LongAdder a :
        List.of(
            reads, bytesFromCache, bytesFromRemote, filesWritten, bytesWritten, uploadsSucceeded,
            uploadsFailed, uploadsDropped, uploadsCancelled, uploadedBytes, uploadNanos,
            cacheDeletes, cacheDeleteFailures, filesFilled, filledBytes, fillsFailed,
            fillsDropped, fillsCancelled, uploadsBatched)) {
      a.reset();
    }
    fallbacks.clear();
    synchronized (readLog) {
      readLog.clear();
    }
  }

  void readFinished(ReadRecord record) {
    reads.increment();
    bytesFromCache.add(record.bytesFromCache());
    bytesFromRemote.add(record.bytesFromRemote());
    if (record.fallbackReason() != null) {
      fallbacks.computeIfAbsent(record.fallbackReason(), r -> new LongAdder()).increment();
    }
    synchronized (readLog) {
      if (readLog.size() == READ_LOG_CAPACITY) readLog.removeFirst();
      readLog.addLast(record);
    }
  }

  void fileWritten(long bytes) {
    filesWritten.increment();
    bytesWritten.add(bytes);
  }

  void uploadQueued() {
    pendingUploads.incrementAndGet();
  }

  void uploadLeftQueue() {
    pendingUploads.decrementAndGet();
  }

  void uploadSucceeded(long bytes, long nanos) {
    uploadsSucceeded.increment();
    uploadedBytes.add(bytes);
    uploadNanos.add(nanos);
  }

  /**
   * Uploads sent in one WriteBatch call with others (each is still counted once as succeeded,
   * failed or cancelled); an agent without WriteBatch gets them as single Writes from the client.
   */
  void uploadsBatched(int files) {
    uploadsBatched.add(files);
  }

  void uploadFailed() {
    uploadsFailed.increment();
  }

  void uploadDropped() {
    uploadsDropped.increment();
  }

  void uploadCancelled() {
    uploadsCancelled.increment();
  }

  void fillSucceeded(long bytes) {
    filesFilled.increment();
    filledBytes.add(bytes);
  }

  /** The agent refused or failed a fill (a write-access policy, a full cache, a conflict). */
  void fillFailed() {
    fillsFailed.increment();
  }

  /** A fill was not queued: the upload queue was half full, or the recorder 32 MiB behind. */
  void fillDropped() {
    fillsDropped.increment();
  }

  /** A fill whose file changed, or was deleted or written through ckc://, before it was stored. */
  void fillCancelled() {
    fillsCancelled.increment();
  }

  void cacheDeleted(boolean ok) {
    if (ok) cacheDeletes.increment();
    else cacheDeleteFailures.increment();
  }

  /** The JMX view of the counters. */
  public interface CheckpointCacheMetricsMXBean {
    long getReads();

    long getBytesFromCache();

    long getBytesFromRemote();

    long getFallbacks();

    long getFilesWritten();

    long getBytesWritten();

    long getUploadsSucceeded();

    long getUploadsFailed();

    long getUploadsDropped();

    long getUploadedBytes();

    int getPendingUploads();

    long getFilesFilled();

    long getFilledBytes();

    long getFillsFailed();

    long getFillsDropped();

    long getUploadsBatched();
  }

  private CheckpointCacheMetrics register() {
    CheckpointCacheMetrics m = this;
    CheckpointCacheMetricsMXBean bean =
        new CheckpointCacheMetricsMXBean() {
          @Override
          public long getReads() {
            return m.reads.sum();
          }

          @Override
          public long getBytesFromCache() {
            return m.bytesFromCache.sum();
          }

          @Override
          public long getBytesFromRemote() {
            return m.bytesFromRemote.sum();
          }

          @Override
          public long getFallbacks() {
            return m.fallbacks.values().stream().mapToLong(LongAdder::sum).sum();
          }

          @Override
          public long getFilesWritten() {
            return m.filesWritten.sum();
          }

          @Override
          public long getBytesWritten() {
            return m.bytesWritten.sum();
          }

          @Override
          public long getUploadsSucceeded() {
            return m.uploadsSucceeded.sum();
          }

          @Override
          public long getUploadsFailed() {
            return m.uploadsFailed.sum();
          }

          @Override
          public long getUploadsDropped() {
            return m.uploadsDropped.sum();
          }

          @Override
          public long getUploadedBytes() {
            return m.uploadedBytes.sum();
          }

          @Override
          public int getPendingUploads() {
            return m.pendingUploads.get();
          }

          @Override
          public long getFilesFilled() {
            return m.filesFilled.sum();
          }

          @Override
          public long getFilledBytes() {
            return m.filledBytes.sum();
          }

          @Override
          public long getFillsFailed() {
            return m.fillsFailed.sum();
          }

          @Override
          public long getFillsDropped() {
            return m.fillsDropped.sum();
          }

          @Override
          public long getUploadsBatched() {
            return m.uploadsBatched.sum();
          }
        };
    try {
      String loader =
          Integer.toHexString(System.identityHashCode(CheckpointCacheMetrics.class.getClassLoader()));
      ManagementFactory.getPlatformMBeanServer()
          .registerMBean(
              new javax.management.StandardMBean(bean, CheckpointCacheMetricsMXBean.class, true),
              new ObjectName(
                  "io.checkpointcache.flink:type=CheckpointCacheFileSystem,name=" + loader));
    } catch (Exception | LinkageError e) {
      LOG.warn("checkpoint-cache: cannot register the JMX metrics bean: {}", e.toString());
    }
    return this;
  }
}
