package io.checkpointcache.flink;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.Map;
import org.apache.flink.core.fs.BlockLocation;
import org.apache.flink.core.fs.FSDataInputStream;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystemKind;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.RecoverableWriter;

/**
 * {@code ckc:///a/b}: the file {@code <target>/a/b} of the real file system, which stays the
 * source of truth, with the node agent's cache in front of its reads.
 *
 * <ul>
 *   <li>{@link #create}: writes the real file; once it is closed, the file is copied into the
 *       cache (from a local spool copy; in the background by default). A cache failure is logged,
 *       never thrown: a checkpoint never fails because the cache is down.
 *   <li>{@link #open}: reads from the cache; whatever the cache cannot serve (miss, agent down,
 *       corrupt copy) continues from the real file at the next byte. Seeks are supported.
 *   <li>{@link #delete}, {@link #rename}: also remove the cached copies of the files involved (for
 *       directories, every entry whose key starts with the directory's).
 *   <li>everything else passes through to the real file system.
 * </ul>
 *
 * Every operation is the real file system's, on the translated path; those that read, write or
 * remove files also go through the connection's {@link CacheAccess}, which is pure delegation
 * when the cache is off.
 *
 * Owns: the ckc:// ↔ real path translation at the API boundary, and telling the cache access of
 * every change to a real file, so that the cache never serves bytes the real file no longer has.
 * Never: an agent call of its own (those are the cache access's); failing a Flink operation
 * because of the cache.
 */
public final class CheckpointCacheFileSystem extends FileSystem {
  private static final URI ROOT = URI.create(CheckpointCacheFileSystemFactory.SCHEME + ":///");

  private final CacheConnection connection;
  private final PathMapping mapping;
  private final CacheAccess cache;

  CheckpointCacheFileSystem(CacheConnection connection) {
    this.connection = connection;
    this.mapping = connection.mapping;
    this.cache = connection.cache;
  }

  /** The real file behind a ckc:// path. */
  public Path toTarget(Path ckcPath) {
    return mapping.toTarget(ckcPath);
  }

  /** The cache key of the file behind a ckc:// path. */
  public String cacheKey(Path ckcPath) {
    return PathMapping.key(mapping.toTarget(ckcPath));
  }

  @Override
  public Path getWorkingDirectory() {
    return new Path(ROOT);
  }

  @Override
  public Path getHomeDirectory() {
    return new Path(ROOT);
  }

  @Override
  public URI getUri() {
    return ROOT;
  }

  @Override
  public FileStatus getFileStatus(Path f) throws IOException {
    Path real = mapping.toTarget(f);
    return TranslatedFileStatus.of(target().getFileStatus(real), mapping.toCkc(real));
  }

  @Override
  public BlockLocation[] getFileBlockLocations(FileStatus file, long start, long len)
      throws IOException {
    FileStatus real = TranslatedFileStatus.unwrap(file);
    if (real == null) real = target().getFileStatus(mapping.toTarget(file.getPath()));
    return target().getFileBlockLocations(real, start, len);
  }

  @Override
  public FSDataInputStream open(Path f, int bufferSize) throws IOException {
    return open(f);
  }

  @Override
  public FSDataInputStream open(Path f) throws IOException {
    Path real = mapping.toTarget(f);
    return cache.open(target(), real);
  }

  @Override
  public RecoverableWriter createRecoverableWriter() throws IOException {
    return new TranslatingRecoverableWriter(
        target().createRecoverableWriter(), mapping::toTarget, cache::invalidateFile);
  }

  /**
   * Flink 2.x's variant with writer options. Not an {@code @Override} and called reflectively so
   * that one jar also serves Flink 1.20, which has no such method (and never calls this one).
   */
  public RecoverableWriter createRecoverableWriter(Map<String, String> conf) throws IOException {
    FileSystem target = target();
    RecoverableWriter real;
    try {
      real =
          (RecoverableWriter)
              FileSystem.class.getMethod("createRecoverableWriter", Map.class).invoke(target, conf);
    } catch (java.lang.reflect.InvocationTargetException e) {
      if (e.getCause() instanceof IOException io) throw io;
      if (e.getCause() instanceof RuntimeException re) throw re;
      throw new IOException(e.getCause());
    } catch (ReflectiveOperationException e) {
      real = target.createRecoverableWriter();
    }
    return new TranslatingRecoverableWriter(real, mapping::toTarget, cache::invalidateFile);
  }

  /**
   * Flink 1.20's abstract {@code getKind()} (gone in 2.x): the target's kind. Not an
   * {@code @Override} so that one jar serves both; reflective for the same reason.
   */
  public FileSystemKind getKind() {
    try {
      return (FileSystemKind) FileSystem.class.getMethod("getKind").invoke(target());
    } catch (ReflectiveOperationException | IOException | ClassCastException e) {
      return FileSystemKind.FILE_SYSTEM;
    }
  }

  @Override
  public FileStatus[] listStatus(Path f) throws IOException {
    FileStatus[] real = target().listStatus(mapping.toTarget(f));
    if (real == null) return null;
    FileStatus[] translated = new FileStatus[real.length];
    for (int i = 0; i < real.length; i++) {
      translated[i] = TranslatedFileStatus.of(real[i], mapping.toCkc(real[i].getPath()));
    }
    return translated;
  }

  @Override
  public boolean exists(Path f) throws IOException {
    return target().exists(mapping.toTarget(f));
  }

  /**
   * Deletes the real file or directory, and first its cached copies: the file's entry, and with
   * {@code recursive} every entry whose key starts with the directory's key and a slash. Cached
   * copies go first so that no moment exists in which the cache holds a file the real file
   * system does not.
   */
  @Override
  public boolean delete(Path f, boolean recursive) throws IOException {
    Path real = mapping.toTarget(f);
    cache.invalidateFile(real);
    if (recursive) cache.invalidateDirectory(real);
    return target().delete(real, recursive);
  }

  @Override
  public boolean mkdirs(Path f) throws IOException {
    return target().mkdirs(mapping.toTarget(f));
  }

  @Override
  public FSDataOutputStream create(Path f, WriteMode overwriteMode) throws IOException {
    Path real = mapping.toTarget(f);
    return cache.create(target(), real, overwriteMode);
  }

  /** Renames on the real file system; the cached copies of both paths are dropped first. */
  @Override
  public boolean rename(Path src, Path dst) throws IOException {
    Path realSrc = mapping.toTarget(src);
    Path realDst = mapping.toTarget(dst);
    cache.invalidateRenamed(target(), realSrc, realDst);
    return target().rename(realSrc, realDst);
  }

  @Override
  public boolean isDistributedFS() {
    try {
      return target().isDistributedFS();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @SuppressWarnings("deprecation")
  @Override
  public long getDefaultBlockSize() {
    try {
      return target().getDefaultBlockSize();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private FileSystem target() throws IOException {
    return connection.target();
  }
}
