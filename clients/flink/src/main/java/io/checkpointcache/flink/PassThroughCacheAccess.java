package io.checkpointcache.flink;

import java.io.IOException;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;

/**
 * The cache off (disabled, or no client could be made): ckc:// is a plain alias of the target.
 * Reads are only counted (as bytes from the remote store), so the metrics still say where restored
 * bytes came from.
 * Owns: nothing. Never: an agent call, or a call to the target the operation itself does not make.
 */
final class PassThroughCacheAccess implements CacheAccess {
  private final CheckpointCacheMetrics metrics;

  PassThroughCacheAccess(CheckpointCacheMetrics metrics) {
    this.metrics = metrics;
  }

  @Override
  public FSDataInputStream open(FileSystem target, Path real) throws IOException {
    return new PassThroughInputStream(target.open(real), PathMapping.key(real), metrics);
  }

  @Override
  public FSDataOutputStream create(FileSystem target, Path real, WriteMode mode)
      throws IOException {
    return target.create(real, mode);
  }

  @Override
  public void invalidateFile(Path real) {}

  @Override
  public void invalidateDirectory(Path realDir) {}

  @Override
  public void invalidateRenamed(FileSystem target, Path realSrc, Path realDst) {}

  @Override
  public String describe() {
    return "agent none (cache off); upload off";
  }

  @Override
  public void close() {}
}
