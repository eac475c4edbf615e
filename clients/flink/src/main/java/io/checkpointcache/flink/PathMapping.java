package io.checkpointcache.flink;

import java.net.URI;
import org.apache.flink.core.fs.Path;

/**
 * Translates between {@code ckc:///a/b} and the real file {@code <target>/a/b}, and names the
 * cache entry of a real file.
 * Owns: the path translation and the key format. Never: I/O.
 *
 * <p>The key of an entry is the real file's URI as Flink's {@link Path} prints it (e.g.
 * {@code hdfs://nn:8020/flink/ckpt/<job>/chk-7/<uuid>}, {@code file:/data/ckpt/...}), so it is
 * the same string whichever ckc:// spelling led to the file, and a file written through one node
 * can be found by its remote URI alone.
 */
final class PathMapping {
  private final URI target;
  private final String basePath;

  PathMapping(URI target) {
    this.target = target;
    this.basePath = target.getPath();
  }

  /** The real file behind {@code ckc}: a ckc:///path (or a scheme-less absolute path). */
  Path toTarget(Path ckc) {
    URI uri = ckc.toUri();
    String scheme = uri.getScheme();
    if (scheme != null && !CheckpointCacheFileSystemFactory.SCHEME.equalsIgnoreCase(scheme)) {
      throw new IllegalArgumentException("not a ckc:// path: " + ckc);
    }
    String authority = uri.getAuthority();
    if (authority != null && !authority.isEmpty()) {
      throw new IllegalArgumentException(
          "ckc:// paths have no authority (write ckc:///path, three slashes): " + ckc);
    }
    String path = uri.getPath() == null ? "" : uri.getPath();
    if (!path.startsWith("/")) path = "/" + path;
    String joined = "/".equals(basePath) ? path : "/".equals(path) ? basePath : basePath + path;
    return new Path(target.getScheme(), target.getAuthority(), joined);
  }

  /**
   * The ckc:// path of a real file the target file system returned (listStatus, getFileStatus).
   *
   * @throws IllegalArgumentException when the file is not below the target
   */
  Path toCkc(Path real) {
    String path = real.toUri().getPath();
    if (path == null || path.isEmpty()) path = "/";
    String rest;
    if ("/".equals(basePath)) {
      rest = path;
    } else if (path.equals(basePath)) {
      rest = "/";
    } else if (path.startsWith(basePath + "/")) {
      rest = path.substring(basePath.length());
    } else {
      throw new IllegalArgumentException(real + " is not below the target " + target);
    }
    return new Path(CheckpointCacheFileSystemFactory.SCHEME, null, rest);
  }

  /** The cache key of the real file {@code real}. */
  static String key(Path real) {
    return real.toUri().toString();
  }

  /** The prefix every key of a file below the real directory {@code realDir} starts with. */
  static String keyPrefix(Path realDir) {
    String key = key(realDir);
    return key.endsWith("/") ? key : key + "/";
  }

  URI target() {
    return target;
  }
}
