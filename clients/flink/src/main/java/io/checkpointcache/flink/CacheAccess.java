package io.checkpointcache.flink;

import java.io.IOException;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;

/**
 * What ckc:// does with the node cache around an operation on the real file system, chosen once
 * per {@link CacheConnection}:
 *
 * <ul>
 *   <li>{@link PassThroughCacheAccess}: none at all (the cache is disabled, or no client could be
 *       made). ckc:// is then pure delegation to the target and never touches an agent.
 *   <li>{@link AgentCacheAccess}: reads through the agent, and drops cached copies the real file
 *       system no longer has; files written are not copied into the cache (upload OFF, or the
 *       spool directory is unusable).
 *   <li>{@link UploadingCacheAccess}: that, and files written are copied into the cache.
 * </ul>
 *
 * Every path here is a real one (below the target), never a ckc:// path. Implementations never
 * fail an operation because of the cache: only the real file system's failures are thrown.
 */
sealed interface CacheAccess extends AutoCloseable
    permits PassThroughCacheAccess, AgentCacheAccess {
  /** Opens the real file {@code real} for reading. */
  FSDataInputStream open(FileSystem target, Path real) throws IOException;

  /** Creates the real file {@code real}. */
  FSDataOutputStream create(FileSystem target, Path real, WriteMode mode) throws IOException;

  /** Drops the cached copy of the real file {@code real}, and any upload of it in progress. */
  void invalidateFile(Path real);

  /** Drops the cached copies of every file below the real directory {@code realDir}. */
  void invalidateDirectory(Path realDir);

  /**
   * Before {@code realSrc} is renamed to {@code realDst}: drops the cached copies of both, and of
   * every file below {@code realSrc} if the target says it is a directory.
   */
  void invalidateRenamed(FileSystem target, Path realSrc, Path realDst) throws IOException;

  /** The agent and upload mode, for the start-up log line: {@code agent <a>; upload <mode>}. */
  String describe();

  @Override
  void close();
}
