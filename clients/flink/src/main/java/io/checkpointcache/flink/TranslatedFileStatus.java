package io.checkpointcache.flink;

import org.apache.flink.core.fs.BlockLocation;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.LocatedFileStatus;
import org.apache.flink.core.fs.Path;

/**
 * A real file's status under its ckc:// path: callers use {@link #getPath()} to open or delete
 * the file again, so it must name the file through the plugin. Keeps the real status for calls
 * the target answers (block locations).
 */
class TranslatedFileStatus implements FileStatus {
  private final FileStatus real;
  private final Path ckcPath;

  TranslatedFileStatus(FileStatus real, Path ckcPath) {
    this.real = real;
    this.ckcPath = ckcPath;
  }

  /** The ckc:// view of {@code real}, located when {@code real} is. */
  static FileStatus of(FileStatus real, Path ckcPath) {
    return real instanceof LocatedFileStatus located
        ? new Located(located, ckcPath)
        : new TranslatedFileStatus(real, ckcPath);
  }

  /** The real file system's status behind {@code status}, or null when it is not one of ours. */
  static FileStatus unwrap(FileStatus status) {
    return status instanceof TranslatedFileStatus t ? t.real : null;
  }

  @Override
  public long getLen() {
    return real.getLen();
  }

  @Override
  public long getBlockSize() {
    return real.getBlockSize();
  }

  @Override
  public short getReplication() {
    return real.getReplication();
  }

  @Override
  public long getModificationTime() {
    return real.getModificationTime();
  }

  @Override
  public long getAccessTime() {
    return real.getAccessTime();
  }

  @Override
  public boolean isDir() {
    return real.isDir();
  }

  @Override
  public Path getPath() {
    return ckcPath;
  }

  @Override
  public String toString() {
    return "FileStatus{" + ckcPath + " -> " + real.getPath() + ", len=" + getLen() + ", dir=" + isDir() + "}";
  }

  private static final class Located extends TranslatedFileStatus implements LocatedFileStatus {
    private final LocatedFileStatus located;

    Located(LocatedFileStatus real, Path ckcPath) {
      super(real, ckcPath);
      this.located = real;
    }

    @Override
    public BlockLocation[] getBlockLocations() {
      return located.getBlockLocations();
    }
  }
}
