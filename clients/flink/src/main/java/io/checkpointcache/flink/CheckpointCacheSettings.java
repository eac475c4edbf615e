package io.checkpointcache.flink;

import io.checkpointcache.flink.CheckpointCacheOptions.UploadMode;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.IllegalConfigurationException;

/**
 * The plugin's settings, read once from the Flink configuration and validated.
 * Owns: defaults that depend on the environment (the agent address from {@code CKC_AGENT}, the
 * spool directory from {@code io.tmp.dirs}). Never: I/O.
 *
 * @param target the real file system's URI prefix, normalised: a scheme, an authority or none,
 *     and an absolute path without a trailing slash ("/" for the root)
 * @param agent node agent address as the client parses it
 * @param enabled false: ckc:// is a plain alias of the target
 * @param jobId job label for files whose path names none; empty for none
 * @param maxClockSkew see {@link CheckpointCacheOptions#MAX_CLOCK_SKEW}; zero: lengths only
 * @param cacheDir see {@link CheckpointCacheOptions#CACHE_DIR}; null: no short circuit
 * @param fillOnMiss see {@link CheckpointCacheOptions#FILL_ON_MISS}; only with uploads on
 * @param uploadStreams see {@link CheckpointCacheOptions#UPLOAD_STREAMS}; 0: after close only
 * @param warmUp see {@link CheckpointCacheOptions#WARM_UP}; only with a cache directory
 * @param ingestDir see {@link CheckpointCacheOptions#INGEST_DIR}; null: uploads stream
 * @param uploadBatchMaxBytes see {@link CheckpointCacheOptions#UPLOAD_BATCH_MAX_BYTES}; 0: no
 *     batches
 */
public record CheckpointCacheSettings(
    URI target,
    String agent,
    boolean enabled,
    String jobId,
    UploadMode upload,
    int uploadThreads,
    int maxPendingUploads,
    Duration ttl,
    Path spoolDir,
    Duration firstMessageTimeout,
    Duration idleTimeout,
    Duration maxClockSkew,
    Path cacheDir,
    boolean fillOnMiss,
    int uploadStreams,
    boolean warmUp,
    Path ingestDir,
    long uploadBatchMaxBytes) {

  /**
   * Reads the settings from {@code config}, taking the agent from {@code env}'s
   * {@value CheckpointCacheOptions#AGENT_ENV} when the configuration names none.
   *
   * @throws IllegalConfigurationException when a value is missing or malformed
   */
  public static CheckpointCacheSettings from(Configuration config, Map<String, String> env) {
    String rawTarget = config.get(CheckpointCacheOptions.TARGET);
    if (rawTarget == null || rawTarget.isBlank()) {
      throw new IllegalConfigurationException(
          CheckpointCacheOptions.TARGET.key()
              + " is not set: name the file system ckc:// paths live on, e.g. hdfs://nn:8020/flink");
    }
    String agent = config.get(CheckpointCacheOptions.AGENT);
    if (agent == null || agent.isBlank()) agent = env.get(CheckpointCacheOptions.AGENT_ENV);
    if (agent == null || agent.isBlank()) agent = CheckpointCacheOptions.DEFAULT_AGENT;
    int threads = config.get(CheckpointCacheOptions.UPLOAD_THREADS);
    if (threads < 1) {
      throw new IllegalConfigurationException(
          CheckpointCacheOptions.UPLOAD_THREADS.key() + " must be at least 1, got " + threads);
    }
    int maxPending = config.get(CheckpointCacheOptions.UPLOAD_MAX_PENDING);
    if (maxPending < 1) {
      throw new IllegalConfigurationException(
          CheckpointCacheOptions.UPLOAD_MAX_PENDING.key() + " must be at least 1, got " + maxPending);
    }
    int streams = config.get(CheckpointCacheOptions.UPLOAD_STREAMS);
    if (streams < 0) {
      throw new IllegalConfigurationException(
          CheckpointCacheOptions.UPLOAD_STREAMS.key() + " must be 0 or more, got " + streams);
    }
    long batchMaxBytes = config.get(CheckpointCacheOptions.UPLOAD_BATCH_MAX_BYTES).getBytes();
    if (batchMaxBytes > UploadBatch.MAX_BYTES) {
      throw new IllegalConfigurationException(
          CheckpointCacheOptions.UPLOAD_BATCH_MAX_BYTES.key()
              + " must be at most 4 mb (a batch's bytes), got "
              + batchMaxBytes
              + " bytes");
    }
    String spool = config.get(CheckpointCacheOptions.SPOOL_DIR);
    if (spool == null || spool.isBlank()) spool = firstTmpDir(config);
    String jobId = config.get(CheckpointCacheOptions.JOB_ID);
    String cacheDir = config.get(CheckpointCacheOptions.CACHE_DIR);
    String ingestDir = config.get(CheckpointCacheOptions.INGEST_DIR);
    return new CheckpointCacheSettings(
        normaliseTarget(rawTarget.trim()),
        agent.trim(),
        config.get(CheckpointCacheOptions.ENABLED),
        jobId == null ? "" : jobId.trim(),
        config.get(CheckpointCacheOptions.UPLOAD),
        threads,
        maxPending,
        config.get(CheckpointCacheOptions.TTL),
        Path.of(spool),
        positive(CheckpointCacheOptions.FIRST_MESSAGE_TIMEOUT.key(),
            config.get(CheckpointCacheOptions.FIRST_MESSAGE_TIMEOUT)),
        positive(CheckpointCacheOptions.IDLE_TIMEOUT.key(),
            config.get(CheckpointCacheOptions.IDLE_TIMEOUT)),
        notNegative(CheckpointCacheOptions.MAX_CLOCK_SKEW.key(),
            config.get(CheckpointCacheOptions.MAX_CLOCK_SKEW)),
        cacheDir == null || cacheDir.isBlank() ? null : Path.of(cacheDir.trim()),
        config.get(CheckpointCacheOptions.FILL_ON_MISS),
        streams,
        config.get(CheckpointCacheOptions.WARM_UP),
        ingestDir == null || ingestDir.isBlank() ? null : Path.of(ingestDir.trim()),
        batchMaxBytes);
  }

  /** {@code hdfs://nn/flink/} → {@code hdfs://nn/flink}; {@code file:///} → {@code file:/}. */
  static URI normaliseTarget(String raw) {
    URI uri;
    try {
      uri = new URI(raw);
    } catch (URISyntaxException e) {
      throw new IllegalConfigurationException(
          CheckpointCacheOptions.TARGET.key() + " is not a URI: " + raw, e);
    }
    String scheme = uri.getScheme();
    if (scheme == null || uri.isOpaque()) {
      throw new IllegalConfigurationException(
          CheckpointCacheOptions.TARGET.key()
              + " must be an absolute URI with a scheme (file:///, hdfs://nn/path), got "
              + raw);
    }
    if (CheckpointCacheFileSystemFactory.SCHEME.equalsIgnoreCase(scheme)) {
      throw new IllegalConfigurationException(
          CheckpointCacheOptions.TARGET.key() + " cannot be a ckc:// URI itself: " + raw);
    }
    if (uri.getRawQuery() != null || uri.getRawFragment() != null) {
      throw new IllegalConfigurationException(
          CheckpointCacheOptions.TARGET.key() + " cannot have a query or fragment: " + raw);
    }
    String path = uri.getPath() == null || uri.getPath().isEmpty() ? "/" : uri.getPath();
    if (!path.startsWith("/")) path = "/" + path;
    while (path.length() > 1 && path.endsWith("/")) path = path.substring(0, path.length() - 1);
    try {
      return new URI(scheme, uri.getAuthority(), path, null, null);
    } catch (URISyntaxException e) {
      throw new IllegalConfigurationException(
          CheckpointCacheOptions.TARGET.key() + " is not a URI: " + raw, e);
    }
  }

  private static String firstTmpDir(Configuration config) {
    String dirs = config.get(CoreOptions.TMP_DIRS);
    if (dirs != null) {
      for (String dir : dirs.split("[,:" + java.io.File.pathSeparator + "]")) {
        if (!dir.isBlank()) return dir.trim();
      }
    }
    return System.getProperty("java.io.tmpdir");
  }

  private static Duration notNegative(String key, Duration value) {
    if (value == null || value.isNegative()) {
      throw new IllegalConfigurationException(key + " must be 0 or a positive duration, got " + value);
    }
    return value;
  }

  private static Duration positive(String key, Duration value) {
    if (value == null || value.isZero() || value.isNegative()) {
      throw new IllegalConfigurationException(key + " must be a positive duration, got " + value);
    }
    return value;
  }
}
