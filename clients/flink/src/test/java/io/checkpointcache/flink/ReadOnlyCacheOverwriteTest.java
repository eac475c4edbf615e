package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.ScriptedAgent;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With the cache read but not written (upload off), an OVERWRITE create through ckc:// still drops
 * the cached copy of the old file, as docs/flink.md says: the read-time version check alone would
 * serve a same-length replacement made within the clock-skew allowance.
 */
class ReadOnlyCacheOverwriteTest {
  @TempDir java.nio.file.Path tmp;
  private ScriptedAgent scripted;
  private FileSystem fs;
  private java.nio.file.Path remote;

  @BeforeEach
  void start() throws IOException {
    scripted = ScriptedAgent.start();
    remote = Files.createDirectories(tmp.resolve("remote"));
    fs = ScriptedFileSystem.over(scripted, remote, tmp.resolve("spool"), "off");
  }

  @AfterEach
  void stop() throws Exception {
    scripted.close();
  }

  @Test
  void anOverwriteDropsTheCachedCopyAndANewFileDoesNotAskTheAgent() throws IOException {
    Path p = new Path("ckc:///flink/ckpt/job/chk-1/state");
    byte[] old = "old bytes".getBytes(StandardCharsets.UTF_8);
    Files.createDirectories(remote.resolve("flink/ckpt/job/chk-1"));
    Files.write(remote.resolve("flink/ckpt/job/chk-1/state"), old);
    String key = ((CheckpointCacheFileSystem) fs).cacheKey(p);
    scripted.put(key, old, ScriptedAgent.crc32c(old));

    try (FSDataOutputStream out = fs.create(p, WriteMode.OVERWRITE)) {
      out.write("new bytes".getBytes(StandardCharsets.UTF_8));
    }
    assertEquals(List.of(key), scripted.deletes());
    assertFalse(scripted.holds(key));

    Path q = new Path("ckc:///flink/ckpt/job/chk-1/other");
    try (FSDataOutputStream out = fs.create(q, WriteMode.NO_OVERWRITE)) {
      out.write(1);
    }
    assertEquals(List.of(key), scripted.deletes(), "a new file has no cached copy to drop");
    assertTrue(Files.exists(remote.resolve("flink/ckpt/job/chk-1/other")));
  }
}
