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
 * system and the {@link CacheAccess}, which is chosen here, once: pass-through when the cache is
 * disabled or no agent client could be made, reads only when upload is OFF or the spool directory
 * is unusable, reads and uploads otherwise. One per class loader at a time: Flink configures file
 * systems once per process, and a new configuration (tests, a MiniCluster restarted with another
 * agent) closes the previous connection.
 * Owns: the cache access (with its client and uploader). Never: Flink paths.
 */
final class CacheConnection implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(CacheConnection.class);
  private static CacheConnection current;

  final CheckpointCacheSettings settings;
  final PathMapping mapping;
  /** How ckc:// uses the cache, for as long as this connection lives. */
  final CacheAccess cache;
  private volatile FileSystem target;

  private CacheConnection(CheckpointCacheSettings settings, CheckpointCacheMetrics metrics) {
    this.settings = settings;
    this.mapping = new PathMapping(settings.target());
    this.cache = accessFor(settings, metrics);
    LOG.info("checkpoint-cache: ckc:// is {}; {}", settings.target(), cache.describe());
  }

  /**
   * The access {@code settings} ask for, or less of it when a part cannot be made: no client
   * means no cache at all; no spool directory means nothing is uploaded.
   */
  private CacheAccess accessFor(CheckpointCacheSettings settings, CheckpointCacheMetrics metrics) {
    if (!settings.enabled()) return new PassThroughCacheAccess(metrics);
    CheckpointCacheClient client;
    try {
      RemoteStores remotes =
          new RemoteStores()
              .register(new FlinkRemoteStore(settings.target().getScheme(), this::target));
      client = new CheckpointCacheClient(clientOptions(settings, remotes));
    } catch (RuntimeException e) {
      LOG.warn(
          "checkpoint-cache: no client for agent {}; ckc:// reads and writes {} directly: {}",
          settings.agent(),
          settings.target(),
          e.toString());
      return new PassThroughCacheAccess(metrics);
    }
    if (settings.upload() == UploadMode.OFF) return new AgentCacheAccess(client, settings, metrics);
    CacheUploader uploader;
    try {
      uploader = new CacheUploader(client, settings, metrics);
    } catch (IOException e) {
      LOG.warn(
          "checkpoint-cache: cannot use spool directory {}; written files are not cached: {}",
          settings.spoolDir(),
          e.toString());
      return new AgentCacheAccess(client, settings, metrics);
    }
    return new UploadingCacheAccess(client, uploader, settings, metrics);
  }

  /**
   * The client options {@code settings} ask for, reading the target through {@code remotes}: one
   * place, so that the read path's warm-up ({@link WarmUpOnStart}) runs the client as reads do.
   */
  static CheckpointCacheClientOptions clientOptions(
      CheckpointCacheSettings settings, RemoteStores remotes) {
    CheckpointCacheClientOptions.Builder options =
        CheckpointCacheClientOptions.builder(settings.agent())
            .remoteStores(remotes)
            .firstMessageTimeout(settings.firstMessageTimeout())
            .idleTimeout(settings.idleTimeout())
            // Deletes run inside Flink's discard calls: a hung agent may cost this much.
            .unaryTimeout(settings.firstMessageTimeout());
    // The TaskManager's mount of the node's cache directory: reads short-circuit through it.
    if (settings.cacheDir() != null) options.shortCircuit(settings.cacheDir());
    return options.build();
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
    cache.close();
  }
}
