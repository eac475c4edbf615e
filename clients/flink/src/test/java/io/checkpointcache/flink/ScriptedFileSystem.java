package io.checkpointcache.flink;

import io.checkpointcache.client.ScriptedAgent;
import java.io.IOException;
import java.net.URI;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.fs.FileSystem;

/**
 * A ckc:// file system over a {@link ScriptedAgent}, for tests of what the real agent cannot be
 * made to do: the target is the local folder {@code remote}, uploads as {@code upload}.
 */
final class ScriptedFileSystem {
  private ScriptedFileSystem() {}

  static FileSystem over(
      ScriptedAgent agent, java.nio.file.Path remote, java.nio.file.Path spool, String upload)
      throws IOException {
    return over(agent, remote, spool, upload, Map.of());
  }

  /** The same, with further {@code checkpoint-cache.*} settings. */
  static FileSystem over(
      ScriptedAgent agent,
      java.nio.file.Path remote,
      java.nio.file.Path spool,
      String upload,
      Map<String, String> more)
      throws IOException {
    Configuration c = new Configuration();
    more.forEach(c::setString);
    c.setString("checkpoint-cache.target", remote.toUri().toString());
    c.setString("checkpoint-cache.agent", agent.address());
    c.setString("checkpoint-cache.upload", upload);
    c.setString("checkpoint-cache.spool-dir", spool.toString());
    CheckpointCacheFileSystemFactory factory = new CheckpointCacheFileSystemFactory();
    factory.configure(c);
    return factory.create(URI.create("ckc:///"));
  }
}
