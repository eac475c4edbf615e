package io.checkpointcache.flink;

import io.checkpointcache.client.CheckpointCacheClient;
import java.io.IOException;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;

/**
 * {@link AgentCacheAccess} with uploads (upload ASYNC or SYNC, and a usable spool directory):
 * files written are copied into the cache once closed, files read whole from the real file system
 * too (fill on miss, unless {@code checkpoint-cache.fill-on-miss} is false), and dropping a cached
 * copy also cancels any upload or fill of it in progress.
 * Owns: the fill recorder and the uploader (closed with this, in that order, before the client
 * they upload through).
 */
final class UploadingCacheAccess extends AgentCacheAccess {
  final CacheUploader uploader;
  private final FillOnMiss fillOnMiss;

  UploadingCacheAccess(
      CheckpointCacheClient client,
      CacheUploader uploader,
      CheckpointCacheSettings settings,
      CheckpointCacheMetrics metrics) {
    super(client, settings, metrics);
    this.uploader = uploader;
    this.fillOnMiss = new FillOnMiss(uploader, settings, metrics);
  }

  @Override
  CachedInputStream.Observer observe(FileSystem target, Path real, FileStatus status) {
    return fillOnMiss.observe(target, real, status);
  }

  /** The real file, written through a stream that also caches it once closed. */
  @Override
  public FSDataOutputStream create(FileSystem target, Path real, WriteMode mode)
      throws IOException {
    String key = PathMapping.key(real);
    if (mode == WriteMode.OVERWRITE) invalidateFile(real);
    FSDataOutputStream out = target.create(real, mode);
    return new CachingOutputStream(
        out,
        key,
        CheckpointLabels.ofFile(real, settings.jobId()),
        uploader,
        metrics,
        () -> target.exists(real));
  }

  /**
   * Not while this process is uploading the file now: that upload replaces the stale copy itself,
   * and a delete racing it could remove the new one.
   */
  @Override
  void dropStaleCopy(String key) {
    if (uploader.isUploading(key)) return;
    super.dropStaleCopy(key);
  }

  @Override
  public void invalidateFile(Path real) {
    uploader.cancel(PathMapping.key(real));
    super.invalidateFile(real);
  }

  @Override
  public void invalidateDirectory(Path realDir) {
    uploader.cancelUnder(PathMapping.keyPrefix(realDir));
    super.invalidateDirectory(realDir);
  }

  @Override
  public String describe() {
    return "agent "
        + settings.agent()
        + "; upload "
        + settings.upload()
        + "; fill-on-miss "
        + (settings.fillOnMiss() ? "on" : "off");
  }

  @Override
  public void close() {
    fillOnMiss.close();
    uploader.close();
    super.close();
  }
}
