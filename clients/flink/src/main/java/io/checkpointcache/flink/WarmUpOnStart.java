package io.checkpointcache.flink;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.WarmUpReport;
import io.checkpointcache.client.remote.RemoteStores;
import java.nio.file.Files;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts the read path's warm-up ({@link CheckpointCacheClient#warmUpReadPath}) once per process
 * when the plugin is configured with the short circuit on ({@code checkpoint-cache.cache-dir}) and
 * {@code checkpoint-cache.warm-up} is not false: on a daemon thread of the lowest priority, with a
 * client of its own (closed afterwards) and a directory of its own below the spool directory. A
 * TaskManager first runs the short circuit at its first restore; without this, that restore pays
 * for class loading and the interpreter (docs/flink.md, section 4).
 *
 * <p>Owns: the once-per-process flag and the thread. Never: failing, delaying or logging above
 * DEBUG (whatever happens, the process loses at most the warm-up: one DEBUG line says what it
 * did or why not), counting in the plugin's metrics (its reads are not ckc:// reads), touching the
 * target file system or writing into the cache directory.
 */
final class WarmUpOnStart {
  private static final Logger LOG = LoggerFactory.getLogger(WarmUpOnStart.class);

  /** The process's: the plugin's class loader is one per process. */
  static final WarmUpOnStart PROCESS = new WarmUpOnStart();

  private final AtomicBoolean started = new AtomicBoolean();

  /**
   * Starts the warm-up for {@code settings} unless they ask for none or one was started already;
   * returns its thread, or null when none was started.
   */
  Thread startIfWanted(CheckpointCacheSettings settings) {
    if (!wanted(settings) || !started.compareAndSet(false, true)) return null;
    Thread thread = new Thread(() -> run(settings), "ckc-warm-up");
    thread.setDaemon(true);
    // A hint only (Linux ignores Java priorities unless the JVM runs with root's policy): the
    // warm-up is bounded anyway, a fraction of a second of CPU.
    thread.setPriority(Thread.MIN_PRIORITY);
    thread.start();
    return thread;
  }

  /** The cache on, its short circuit on, and the warm-up not turned off. */
  static boolean wanted(CheckpointCacheSettings settings) {
    return settings.enabled() && settings.cacheDir() != null && settings.warmUp();
  }

  /** The warm-up itself, on the caller's thread; never throws. Null when it could not run. */
  static WarmUpReport run(CheckpointCacheSettings settings) {
    // No remote store: the warm-up's reads end at the agent's answer and never touch the target.
    try (CheckpointCacheClient client =
        new CheckpointCacheClient(CacheConnection.clientOptions(settings, new RemoteStores()))) {
      // The plugin's own directory (the uploader creates it too); the warm-up writes below it only.
      Files.createDirectories(settings.spoolDir());
      WarmUpReport report = client.warmUpReadPath(settings.spoolDir());
      LOG.debug("checkpoint-cache: {}", report);
      return report;
    } catch (Throwable e) {
      // Anything at all (no epoll for a Unix socket, an unusable spool directory, a linkage
      // problem): the warm-up is an optimisation, and its thread ends here.
      LOG.debug("checkpoint-cache: no warm-up of the read path: {}", e.toString());
      return null;
    }
  }
}
