package io.checkpointcache.flink;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.CheckpointCacheClientOptions;
import io.checkpointcache.client.remote.RemoteStores;
import io.checkpointcache.flink.CheckpointCacheOptions.UploadMode;
import java.io.IOException;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What every ckc:// file system of one process shares for one set of settings: the target file
 * system, the agent client and the uploader. One per class loader at a time: Flink configures
 * file systems once per process, and a new configuration (tests, a MiniCluster restarted with
 * another agent) closes the previous connection.
 * Owns: the client and the uploader. Never: Flink paths.
 */
final class CacheConnection implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(CacheConnection.class);
  private static CacheConnection current;

  final CheckpointCacheSettings settings;
  final PathMapping mapping;
  final CheckpointCacheMetrics metrics;
  /** Null when the cache is disabled or no client could be made: ckc:// is then an alias. */
  final CheckpointCacheClient client;
  /** Null when nothing is written to the cache. */
  final CacheUploader uploader;
  private volatile FileSystem target;

  private CacheConnection(CheckpointCacheSettings settings, CheckpointCacheMetrics metrics) {
    this.settings = settings;
    this.mapping = new PathMapping(settings.target());
    this.metrics = metrics;
    CheckpointCacheClient c = null;
    if (settings.enabled()) {
      try {
        RemoteStores remotes =
            new RemoteStores()
                .register(new FlinkRemoteStore(settings.target().getScheme(), this::target));
        c =
            new CheckpointCacheClient(
                CheckpointCacheClientOptions.builder(settings.agent())
                    .remoteStores(remotes)
                    .firstMessageTimeout(settings.firstMessageTimeout())
                    .idleTimeout(settings.idleTimeout())
                    // Deletes run inside Flink's discard calls: a hung agent may cost this much.
                    .unaryTimeout(settings.firstMessageTimeout())
                    .build());
      } catch (RuntimeException e) {
        LOG.warn(
            "checkpoint-cache: no client for agent {}; ckc:// reads and writes {} directly: {}",
            settings.agent(),
            settings.target(),
            e.toString());
      }
    }
    this.client = c;
    CacheUploader u = null;
    if (c != null && settings.upload() != UploadMode.OFF) {
      try {
        u = new CacheUploader(c, settings, metrics);
      } catch (IOException e) {
        LOG.warn(
            "checkpoint-cache: cannot use spool directory {}; written files are not cached: {}",
            settings.spoolDir(),
            e.toString());
      }
    }
    this.uploader = u;
    LOG.info(
        "checkpoint-cache: ckc:// is {}; agent {}; upload {}",
        settings.target(),
        client == null ? "none (cache off)" : settings.agent(),
        uploader == null ? "off" : settings.upload());
  }

  /** The connection for {@code settings}, replacing (and closing) one made for other settings. */
  static synchronized CacheConnection forSettings(CheckpointCacheSettings settings) {
    if (current != null && current.settings.equals(settings)) return current;
    if (current != null) current.close();
    current = new CacheConnection(settings, CheckpointCacheMetrics.global());
    return current;
  }

  /** Flink's file system for the target, resolved on first use (not during configuration). */
  FileSystem target() throws IOException {
    FileSystem fs = target;
    if (fs == null) {
      // Flink calls a plugin's file system with the plugin's class loader as the thread's
      // context loader, and Hadoop looks up its file systems (hdfs://) through the context
      // loader's service files, which the plugin's loader does not show: the target is created
      // with the loader of Flink's own classes, as it would be without the plugin.
      Thread thread = Thread.currentThread();
      ClassLoader previous = thread.getContextClassLoader();
      thread.setContextClassLoader(FileSystem.class.getClassLoader());
      try {
        // Unguarded: the caller's ckc:// file system is what Flink's safety net wraps.
        fs = FileSystem.getUnguardedFileSystem(new Path(settings.target()).toUri());
      } finally {
        thread.setContextClassLoader(previous);
      }
      target = fs;
    }
    return fs;
  }

  @Override
  public void close() {
    if (uploader != null) uploader.close();
    if (client != null) client.close();
  }
}
