package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.checkpointcache.client.CheckpointCacheClient;
import io.checkpointcache.v1.EntryInfo;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.apache.flink.core.fs.FSDataOutputStream;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.FileSystem.WriteMode;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * checkpoint-cache.ingest-dir against real agents: files copied into the cache after close are
 * handed to the agent by name (its Ingest copies the spool file), and an agent that cannot take
 * them (no ingest directory) gets them streamed, so the setting never costs a cached file.
 */
class IngestUploadTest {
  private static final int MIB = 1024 * 1024;
  private static final String JOB = "00000000000000000000000000000def";

  @TempDir java.nio.file.Path dir;
  private java.nio.file.Path ingest;
  private java.nio.file.Path remote;
  private TestAgent agent;
  private CheckpointCacheClient client;
  private final CheckpointCacheMetrics metrics = CheckpointCacheMetrics.global();

  @BeforeEach
  void dirs() throws Exception {
    ingest = Files.createDirectories(dir.resolve("ingest"));
    remote = Files.createDirectories(dir.resolve("remote"));
    metrics.reset();
  }

  @AfterEach
  void stop() throws Exception {
    assertTrue(metrics.awaitUploadsIdle(Duration.ofSeconds(30)));
    if (client != null) client.close();
    if (agent != null) agent.stop();
  }

  private FileSystem fileSystem() throws Exception {
    CheckpointCacheFileSystemFactory factory = new CheckpointCacheFileSystemFactory();
    org.apache.flink.configuration.Configuration c =
        new org.apache.flink.configuration.Configuration();
    Map.of(
            "checkpoint-cache.target", remote.toUri().toString(),
            "checkpoint-cache.agent", agent.address(),
            "checkpoint-cache.upload", "sync",
            "checkpoint-cache.upload.streams", "0",
            "checkpoint-cache.spool-dir", dir.resolve("spool").toString(),
            "checkpoint-cache.ingest-dir", ingest.toString(),
            "checkpoint-cache.first-message-timeout", "1 s")
        .forEach(c::setString);
    factory.configure(c);
    return factory.create(java.net.URI.create("ckc:///"));
  }

  private EntryInfo writeAndStat(FileSystem fs, String name, byte[] data) throws Exception {
    Path p = new Path("ckc:///ckpt/" + JOB + "/chk-3/" + name);
    try (FSDataOutputStream out = fs.create(p, WriteMode.NO_OVERWRITE)) {
      out.write(data);
    }
    assertTrue(metrics.awaitUploadsIdle(Duration.ofSeconds(30)));
    return client.stat(((CheckpointCacheFileSystem) fs).cacheKey(p), true);
  }

  private static int crc32c(byte[] data) {
    CRC32C crc = new CRC32C();
    crc.update(data);
    return (int) crc.getValue();
  }

  private boolean ingestDirEmpty() throws Exception {
    try (Stream<java.nio.file.Path> files = Files.list(ingest)) {
      return files.findAny().isEmpty();
    }
  }

  @Test
  void filesCopiedAfterCloseAreHandedOverByName() throws Exception {
    agent = TestAgent.start(dir, List.of("--ingest-dir", ingest.toString(), "--log-level", "debug"));
    client = agent.client();
    byte[] data = SharedTestAgent.bytes(3 * MIB + 11, 5);
    EntryInfo entry = writeAndStat(fileSystem(), "ingested", data);
    assertEquals(data.length, entry.getSize());
    assertEquals(crc32c(data), entry.getCrc32C());
    assertEquals(1, metrics.snapshot().uploadsSucceeded());
    // Handed over: the agent linked the spool file instead of copying it (one file system here).
    assertTrue(agent.logTail().contains("Ingest linked a file"), agent.logTail());
    assertTrue(ingestDirEmpty(), "the spool file is deleted once the copy is committed");
  }

  @Test
  void anAgentWithoutAnIngestDirectoryGetsTheFileStreamed() throws Exception {
    agent = TestAgent.start(dir, List.of("--log-level", "debug"));
    client = agent.client();
    byte[] data = SharedTestAgent.bytes(MIB + 3, 6);
    EntryInfo entry = writeAndStat(fileSystem(), "streamed", data);
    assertEquals(crc32c(data), entry.getCrc32C());
    assertEquals(1, metrics.snapshot().uploadsSucceeded());
    assertEquals(0, metrics.snapshot().uploadsFailed());
    assertFalse(agent.logTail().contains("Ingest copied a file"));
    assertFalse(agent.logTail().contains("Ingest linked a file"));
    assertTrue(ingestDirEmpty());
  }

  @Test
  void orphanedSpoolFilesOfDeadProcessesAreRemovedAndNothingElse() throws Exception {
    agent = TestAgent.start(dir, List.of("--ingest-dir", ingest.toString()));
    client = agent.client();
    java.nio.file.Path orphan = Files.writeString(ingest.resolve("ckc-0badc0de-1.spool"), "x");
    java.nio.file.Path fresh = Files.writeString(ingest.resolve("ckc-0badc0de-2.spool"), "x");
    java.nio.file.Path foreign = Files.writeString(ingest.resolve("someone-else.spool"), "x");
    java.nio.file.attribute.FileTime twoDaysAgo =
        java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() - 48 * 3600_000L);
    Files.setLastModifiedTime(orphan, twoDaysAgo);
    Files.setLastModifiedTime(foreign, twoDaysAgo);
    writeAndStat(fileSystem(), "after-sweep", SharedTestAgent.bytes(1000, 7));
    assertFalse(Files.exists(orphan), "a day-old spool file of this plugin's naming is removed");
    assertTrue(Files.exists(fresh), "a recent one may belong to a live TaskManager");
    assertTrue(Files.exists(foreign), "files of other names are not this plugin's");
  }
}
