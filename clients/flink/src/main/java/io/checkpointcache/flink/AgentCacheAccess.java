package io.checkpointcache.flink;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.client.CheckpointCacheException;
import io.checkpointcache.client.RemoteVersion;
import io.checkpointcache.v1.DeletePrefixResponse;
import io.checkpointcache.v1.EntryInfo;
import io.grpc.Status;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cache through the agent's client, for reads: a file is read from its cached copy if that
 * copy is of the real file's current version, and cached copies of files deleted, renamed or
 * replaced through ckc:// are dropped. Files written are not copied into the cache (upload OFF,
 * or no usable spool directory); {@link UploadingCacheAccess} adds that.
 * Owns: the client (closed with this). Never: failing an operation because the agent failed
 * (those failures are counted and logged once a minute).
 */
sealed class AgentCacheAccess implements CacheAccess permits UploadingCacheAccess {
  private static final Logger LOG = LoggerFactory.getLogger(AgentCacheAccess.class);

  final CheckpointCacheClient client;
  final CheckpointCacheSettings settings;
  final CheckpointCacheMetrics metrics;
  private final OncePerMinuteWarning warning = new OncePerMinuteWarning(LOG);

  AgentCacheAccess(
      CheckpointCacheClient client, CheckpointCacheSettings settings, CheckpointCacheMetrics metrics) {
    this.client = client;
    this.settings = settings;
    this.metrics = metrics;
  }

  /**
   * The real file system decides whether the file exists, how long it is and when it last
   * changed: a cached copy of a file deleted, or replaced, behind the plugin's back is never
   * served (the client reads the real file instead, and the stale copy is dropped).
   */
  @Override
  public final FSDataInputStream open(FileSystem target, Path real) throws IOException {
    String key = PathMapping.key(real);
    FileStatus status = target.getFileStatus(real);
    if (status.isDir()) throw new FileNotFoundException(real + " is a directory");
    long skewMs = settings.maxClockSkew().toMillis();
    RemoteVersion version =
        new RemoteVersion(status.getLen(), skewMs == 0 ? 0 : status.getModificationTime(), skewMs);
    return new CachedInputStream(
        client.openSeekable(key, real.toUri(), version),
        key,
        status.getLen(),
        metrics,
        this::dropStaleCopy,
        observe(target, real, status));
  }

  /** What watches a read of {@code real} (fill on miss); nothing here, where nothing is written. */
  CachedInputStream.Observer observe(FileSystem target, Path real, FileStatus status) {
    return CachedInputStream.Observer.NONE;
  }

  /**
   * The real file only; nothing is uploaded. An overwrite still drops the cached copy (as
   * docs/flink.md promises): a read's version check would miss a replacement of the same length
   * made within the clock-skew allowance.
   */
  @Override
  public FSDataOutputStream create(FileSystem target, Path real, WriteMode mode)
      throws IOException {
    if (mode == WriteMode.OVERWRITE) invalidateFile(real);
    return target.create(real, mode);
  }

  /** A read found the cached copy of {@code key} to be of an older version of the file. */
  void dropStaleCopy(String key) {
    deleteEntry(key);
  }

  @Override
  public void invalidateFile(Path real) {
    deleteEntry(PathMapping.key(real));
  }

  /**
   * One DeletePrefix: the agent removes the entries below the directory here and tells every other
   * node to remove theirs (also entries only other nodes hold, which no listing here could find).
   * An agent older than that RPC ({@code UNIMPLEMENTED}) gets the old way: this node's entries,
   * listed and deleted one by one (each delete then reaches every holder of that key).
   */
  @Override
  public void invalidateDirectory(Path realDir) {
    String prefix = PathMapping.keyPrefix(realDir);
    try {
      DeletePrefixResponse done = client.deletePrefix(prefix);
      metrics.cacheDeleted(true);
      if (done.getNodesTold() < 0) {
        warning.warn(
            "deleted the cached entries under {} on this node only: the agent could not tell the"
                + " other nodes (Redis unreachable); their copies stay until their TTL",
            prefix);
      }
    } catch (CheckpointCacheException e) {
      if (e.code() == Status.Code.UNIMPLEMENTED) {
        invalidateListed(realDir, prefix);
      } else {
        metrics.cacheDeleted(false);
        warning.warn("cannot delete the cached entries under {}: {} {}", prefix, e.code(), e.details());
      }
    }
  }

  /**
   * Lists only the entries of the directory's job (and checkpoint) when Flink's layout names
   * them, since every file below such a directory carries the same labels (see {@link
   * CheckpointLabels}); otherwise all entries.
   */
  private void invalidateListed(Path realDir, String prefix) {
    CheckpointLabels labels = CheckpointLabels.ofDirectory(realDir, "");
    String job = labels.fromLayout() ? labels.jobId() : null;
    Long checkpoint = labels.fromLayout() && labels.checkpointId() > 0 ? labels.checkpointId() : null;
    try {
      for (EntryInfo entry : client.list(job, checkpoint)) {
        if (entry.getKey().startsWith(prefix)) deleteEntry(entry.getKey());
      }
    } catch (UncheckedIOException e) {
      metrics.cacheDeleted(false);
      warning.warn("cannot list cached entries under {}: {}", prefix, e.getCause().toString());
    }
  }

  @Override
  public final void invalidateRenamed(FileSystem target, Path realSrc, Path realDst)
      throws IOException {
    invalidateFile(realSrc);
    invalidateFile(realDst);
    boolean srcIsDir;
    try {
      srcIsDir = target.getFileStatus(realSrc).isDir();
    } catch (FileNotFoundException e) {
      srcIsDir = false;
    }
    if (srcIsDir) invalidateDirectory(realSrc);
  }

  @Override
  public String describe() {
    return "agent " + settings.agent() + "; upload off";
  }

  @Override
  public void close() {
    client.close();
  }

  private void deleteEntry(String key) {
    try {
      client.delete(key);
      metrics.cacheDeleted(true);
    } catch (CheckpointCacheException e) {
      metrics.cacheDeleted(false);
      warning.warn("cannot delete the cached copy of {}: {} {}", key, e.code(), e.details());
    }
  }
}
