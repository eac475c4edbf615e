package io.checkpointcache.flink;

import java.io.IOException;
import java.net.URI;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystemFactory;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Flink's entry point to the plugin (listed in META-INF/services): makes the {@code ckc://} file
 * system from the Flink configuration ({@link CheckpointCacheOptions}).
 *
 * <p>A bad or missing configuration never stops Flink from starting (Flink configures every file
 * system at start-up, used or not); it fails the first use of a ckc:// path instead, saying what
 * is wrong.
 */
public final class CheckpointCacheFileSystemFactory implements FileSystemFactory {
  private static final Logger LOG = LoggerFactory.getLogger(CheckpointCacheFileSystemFactory.class);

  /** The URI scheme this plugin serves. */
  public static final String SCHEME = "ckc";

  private volatile CheckpointCacheSettings settings;
  private volatile IllegalConfigurationException configError =
      new IllegalConfigurationException("the ckc:// file system was never configured");

  @Override
  public String getScheme() {
    return SCHEME;
  }

  @Override
  public void configure(Configuration config) {
    try {
      settings = CheckpointCacheSettings.from(config, System.getenv());
      configError = null;
      // Flink configures file systems when its process starts: the warm-up then has the time
      // until the first restore (a TaskManager's registration, deployment, a job's run).
      WarmUpOnStart.PROCESS.startIfWanted(settings);
    } catch (IllegalConfigurationException e) {
      settings = null;
      configError = e;
      LOG.debug("checkpoint-cache: ckc:// is not usable: {}", e.getMessage());
    }
  }

  @Override
  public FileSystem create(URI fsUri) throws IOException {
    CheckpointCacheSettings s = settings;
    if (s == null) throw new IOException("cannot use " + fsUri + ": " + configError.getMessage(), configError);
    return new CheckpointCacheFileSystem(CacheConnection.forSettings(s));
  }
}
