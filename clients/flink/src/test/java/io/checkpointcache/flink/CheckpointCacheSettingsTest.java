package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.checkpointcache.flink.CheckpointCacheOptions.UploadMode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.junit.jupiter.api.Test;

class CheckpointCacheSettingsTest {
  private static Configuration config(String... kv) {
    Configuration c = new Configuration();
    for (int i = 0; i < kv.length; i += 2) c.setString(kv[i], kv[i + 1]);
    return c;
  }

  @Test
  void defaults() {
    CheckpointCacheSettings s =
        CheckpointCacheSettings.from(
            config("checkpoint-cache.target", "hdfs://nn:8020/flink/", "io.tmp.dirs", "/a,/b"),
            Map.of());
    assertEquals("hdfs://nn:8020/flink", s.target().toString());
    assertEquals(CheckpointCacheOptions.DEFAULT_AGENT, s.agent());
    assertEquals(true, s.enabled());
    assertEquals(UploadMode.ASYNC, s.upload());
    assertEquals(Path.of("/a"), s.spoolDir());
    assertEquals(Duration.ofSeconds(3), s.firstMessageTimeout());
    assertEquals(Duration.ofSeconds(10), s.maxClockSkew());
    assertEquals(null, s.ttl());
    assertEquals(null, s.cacheDir(), "no short circuit unless the cache directory is mounted");
    assertEquals("", s.jobId());
    assertEquals(true, s.fillOnMiss(), "fill on miss is on (where uploads are)");
    assertEquals(true, s.warmUp(), "the read path is warmed (where the short circuit is on)");
    assertEquals(64 * 1024, s.uploadBatchMaxBytes(), "files up to 64 KiB are batched");
  }

  @Test
  void agentFromTheKeyThenTheEnvironment() {
    Map<String, String> env = Map.of("CKC_AGENT", "unix:/env.sock");
    assertEquals(
        "unix:/env.sock",
        CheckpointCacheSettings.from(config("checkpoint-cache.target", "file:///"), env).agent());
    assertEquals(
        "10.0.0.1:7878",
        CheckpointCacheSettings.from(
                config("checkpoint-cache.target", "file:///", "checkpoint-cache.agent", "10.0.0.1:7878"),
                env)
            .agent());
  }

  @Test
  void everyKey() {
    CheckpointCacheSettings s =
        CheckpointCacheSettings.from(
            config(
                "checkpoint-cache.target", "file:///data",
                "checkpoint-cache.enabled", "false",
                "checkpoint-cache.job-id", "j1",
                "checkpoint-cache.upload", "sync",
                "checkpoint-cache.upload.threads", "4",
                "checkpoint-cache.upload.max-pending", "9",
                "checkpoint-cache.ttl", "2 h",
                "checkpoint-cache.spool-dir", "/spool",
                "checkpoint-cache.first-message-timeout", "500 ms",
                "checkpoint-cache.idle-timeout", "1 min",
                "checkpoint-cache.max-clock-skew", "0 s",
                "checkpoint-cache.cache-dir", "/mnt/checkpoint-cache",
                "checkpoint-cache.fill-on-miss", "false",
                "checkpoint-cache.upload.streams", "0",
                "checkpoint-cache.warm-up", "false",
                "checkpoint-cache.ingest-dir", "/mnt/ingest",
                "checkpoint-cache.upload.batch-max-bytes", "1 mb"),
            Map.of());
    assertEquals(
        new CheckpointCacheSettings(
            java.net.URI.create("file:/data"),
            CheckpointCacheOptions.DEFAULT_AGENT,
            false,
            "j1",
            UploadMode.SYNC,
            4,
            9,
            Duration.ofHours(2),
            Path.of("/spool"),
            Duration.ofMillis(500),
            Duration.ofMinutes(1),
            Duration.ZERO,
            Path.of("/mnt/checkpoint-cache"),
            false,
            0,
            false,
            Path.of("/mnt/ingest"),
            1024 * 1024),
        s);
  }

  @Test
  void rejectsBadValues() {
    assertThrows(
        IllegalConfigurationException.class,
        () -> CheckpointCacheSettings.from(new Configuration(), Map.of()));
    for (String target : new String[] {"relative/path", "ckc:///x", "http://h/x?q=1", "::"}) {
      assertThrows(
          IllegalConfigurationException.class,
          () -> CheckpointCacheSettings.from(config("checkpoint-cache.target", target), Map.of()),
          target);
    }
    assertThrows(
        IllegalConfigurationException.class,
        () ->
            CheckpointCacheSettings.from(
                config("checkpoint-cache.target", "file:///", "checkpoint-cache.upload.threads", "0"),
                Map.of()));
    assertThrows(
        IllegalConfigurationException.class,
        () ->
            CheckpointCacheSettings.from(
                config("checkpoint-cache.target", "file:///", "checkpoint-cache.upload.streams", "-1"),
                Map.of()));
    for (String batch : new String[] {"5 mb", "4097 kb"}) {
      assertThrows(
          IllegalConfigurationException.class,
          () ->
              CheckpointCacheSettings.from(
                  config(
                      "checkpoint-cache.target", "file:///",
                      "checkpoint-cache.upload.batch-max-bytes", batch),
                  Map.of()),
          batch);
    }
    assertEquals(
        0,
        CheckpointCacheSettings.from(
                config("checkpoint-cache.target", "file:///", "checkpoint-cache.upload.batch-max-bytes", "0"),
                Map.of())
            .uploadBatchMaxBytes(),
        "0: batching off");
    Configuration negativeSkew = config("checkpoint-cache.target", "file:///");
    negativeSkew.set(CheckpointCacheOptions.MAX_CLOCK_SKEW, Duration.ofSeconds(-1));
    assertThrows(
        IllegalConfigurationException.class,
        () -> CheckpointCacheSettings.from(negativeSkew, Map.of()));
  }

  @Test
  void aMissingTargetFailsTheFirstUseNotFlinksStartUp() {
    CheckpointCacheFileSystemFactory factory = new CheckpointCacheFileSystemFactory();
    factory.configure(new Configuration());
    var e =
        assertThrows(
            java.io.IOException.class, () -> factory.create(java.net.URI.create("ckc:///x")));
    assertEquals(true, e.getMessage().contains("checkpoint-cache.target"), e.getMessage());
  }
}
