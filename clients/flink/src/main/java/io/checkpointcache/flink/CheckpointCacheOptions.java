package io.checkpointcache.flink;

import java.time.Duration;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.MemorySize;

/**
 * The plugin's Flink configuration keys ({@code config.yaml} or dynamic properties), each default
 * written once beside its reason. {@link CheckpointCacheSettings} reads them.
 */
public final class CheckpointCacheOptions {
  private CheckpointCacheOptions() {}

  /** What {@code checkpoint-cache.upload} may be. */
  public enum UploadMode {
    /**
     * close() of a written file returns once the real file system has it; the copy into the cache
     * runs on the plugin's upload threads. A checkpoint is slowed only by the local spool copy.
     */
    ASYNC,
    /**
     * close() also waits for the cache to hold the file (or to fail). Slower checkpoints, but a
     * completed checkpoint's files are all cached unless the agent failed.
     */
    SYNC,
    /** Nothing is written to the cache; reads still go through it (filled by other means). */
    OFF
  }

  /** Default agent address when neither the key nor the environment names one. */
  public static final String DEFAULT_AGENT = "unix:/run/checkpoint-cache/agent.sock";

  /** Environment variable the TaskManager pod template sets (deploy/kubernetes). */
  public static final String AGENT_ENV = "CKC_AGENT";

  public static final ConfigOption<String> TARGET =
      ConfigOptions.key("checkpoint-cache.target")
          .stringType()
          .noDefaultValue()
          .withDescription(
              "The real file system ckc:// paths live on, as a URI prefix: ckc:///a/b is"
                  + " <target>/a/b. For example hdfs://namenode:8020/flink or file:///. It stays"
                  + " the source of truth: every write goes there.");

  public static final ConfigOption<String> AGENT =
      ConfigOptions.key("checkpoint-cache.agent")
          .stringType()
          .noDefaultValue()
          .withDescription(
              "The node agent: unix:/path/agent.sock (required for writes and deletes: the agent"
                  + " accepts changes only over its Unix socket by default) or host:port (reads"
                  + " only). Unset: the CKC_AGENT environment variable, else "
                  + DEFAULT_AGENT
                  + ".");

  public static final ConfigOption<Boolean> ENABLED =
      ConfigOptions.key("checkpoint-cache.enabled")
          .booleanType()
          .defaultValue(true)
          .withDescription(
              "false: ckc:// is a plain alias of the target (no agent calls at all), so a job"
                  + " keeps its checkpoint paths while the cache is switched off.");

  public static final ConfigOption<String> JOB_ID =
      ConfigOptions.key("checkpoint-cache.job-id")
          .stringType()
          .noDefaultValue()
          .withDescription(
              "Job label for cached files whose path does not name the job. Files under Flink's"
                  + " layout <dir>/<job-id>/{chk-N,shared,taskowned}/ are labelled from the path.");

  public static final ConfigOption<UploadMode> UPLOAD =
      ConfigOptions.key("checkpoint-cache.upload")
          .enumType(UploadMode.class)
          .defaultValue(UploadMode.ASYNC)
          .withDescription(
              "When a written file's copy in the cache is committed: ASYNC (close does not wait"
                  + " for it), SYNC (close waits for it) or OFF. Either way the copy streams to the"
                  + " agent while the file is written (see upload.streams; with ASYNC and"
                  + " upload.batch-max-bytes above 0, only a file larger than that), so close has"
                  + " at most the tail to wait for.");

  public static final ConfigOption<Boolean> FILL_ON_MISS =
      ConfigOptions.key("checkpoint-cache.fill-on-miss")
          .booleanType()
          .defaultValue(true)
          .withDescription(
              "With upload ASYNC or SYNC: a file that a read got whole from the target (a miss,"
                  + " a stale or corrupt copy) is copied into the cache afterwards, from the bytes"
                  + " the read delivered, on the upload threads; the read never waits for it."
                  + " Ignored with upload OFF (nothing is written to the cache then).");

  public static final ConfigOption<Integer> UPLOAD_THREADS =
      ConfigOptions.key("checkpoint-cache.upload.threads")
          .intType()
          .defaultValue(2)
          .withDescription("Threads copying files into the cache in ASYNC mode.");

  public static final ConfigOption<Integer> UPLOAD_MAX_PENDING =
      ConfigOptions.key("checkpoint-cache.upload.max-pending")
          .intType()
          .defaultValue(256)
          .withDescription(
              "Files waiting for an upload thread at most; more are not cached (counted as"
                  + " dropped) rather than holding spool space while the agent is slow.");

  public static final ConfigOption<Integer> UPLOAD_STREAMS =
      ConfigOptions.key("checkpoint-cache.upload.streams")
          .intType()
          .defaultValue(4)
          .withDescription(
              "Files copied into the cache while they are being written, at most (each holds a"
                  + " thread while its file is open): their copy is committed about when the real"
                  + " file closes. A file takes a slot at create, except with upload ASYNC and"
                  + " upload.batch-max-bytes above 0: then only once it grows past that size (a"
                  + " smaller file is copied after close, where it can join a batch). Files that"
                  + " find no slot free are copied after close, on the upload threads. 0: every"
                  + " file after close.");

  public static final ConfigOption<MemorySize> UPLOAD_BATCH_MAX_BYTES =
      ConfigOptions.key("checkpoint-cache.upload.batch-max-bytes")
          .memoryType()
          .defaultValue(MemorySize.parse("64kb"))
          .withDescription(
              "ASYNC uploads after close: files of at most this size that wait for an upload"
                  + " thread at the same time are sent together, in one WriteBatch call of at"
                  + " most 256 files and 4 MiB (the agent stores more small files per second so, and"
                  + " packs them into shared files when started with --pack-max-bytes). A file of"
                  + " at most this size is always copied after close (it takes no upload.streams"
                  + " slot; a larger file asks for one once it grows past this size). A file that"
                  + " waits alone is sent as before. 0: every file on its own, and a file takes a"
                  + " stream slot at create. At most 4 mb.");

  public static final ConfigOption<Duration> TTL =
      ConfigOptions.key("checkpoint-cache.ttl")
          .durationType()
          .noDefaultValue()
          .withDescription("Sliding TTL of cached files. Unset: the agent's default.");

  public static final ConfigOption<String> SPOOL_DIR =
      ConfigOptions.key("checkpoint-cache.spool-dir")
          .stringType()
          .noDefaultValue()
          .withDescription(
              "Local directory for the copy of each file being written, kept until it is in the"
                  + " cache (so the cache is filled without reading the remote file back). Unset:"
                  + " the first of io.tmp.dirs.");

  public static final ConfigOption<String> CACHE_DIR =
      ConfigOptions.key("checkpoint-cache.cache-dir")
          .stringType()
          .noDefaultValue()
          .withDescription(
              "Where this TaskManager mounts the node's cache directory (the agent's --cache-dir;"
                  + " read-only is enough). Set: reads take the same-node short circuit, reading"
                  + " the cached file directly after the agent leased it and checking every"
                  + " block's CRC32C; anything unusual streams from the agent instead. Unset: off.");

  public static final ConfigOption<String> INGEST_DIR =
      ConfigOptions.key("checkpoint-cache.ingest-dir")
          .stringType()
          .noDefaultValue()
          .withDescription(
              "Where this TaskManager mounts the agent's ingest directory (its --ingest-dir,"
                  + " read-write here). Set: the local copy of each written file is kept there,"
                  + " and a file copied into the cache after close is handed to the agent by name"
                  + " (Ingest: the agent copies it, no bytes over gRPC); an agent that cannot take"
                  + " it gets it streamed as without. Unset: off.");

  public static final ConfigOption<Boolean> WARM_UP =
      ConfigOptions.key("checkpoint-cache.warm-up")
          .booleanType()
          .defaultValue(true)
          .withDescription(
              "With cache-dir set: once per process, when the plugin is configured, a background"
                  + " thread runs the read path once (the agent's Lease and Read of a key nobody"
                  + " writes, and the short circuit over a synthetic entry in a directory of its"
                  + " own below the spool directory), so that a TaskManager's first restore does"
                  + " not pay for class loading and the interpreter. false: no warm-up.");

  public static final ConfigOption<Duration> FIRST_MESSAGE_TIMEOUT =
      ConfigOptions.key("checkpoint-cache.first-message-timeout")
          .durationType()
          .defaultValue(Duration.ofSeconds(3))
          .withDescription(
              "Longest wait for the agent to start answering a read before it is served from the"
                  + " target: what a hung agent costs per file.");

  public static final ConfigOption<Duration> IDLE_TIMEOUT =
      ConfigOptions.key("checkpoint-cache.idle-timeout")
          .durationType()
          .defaultValue(Duration.ofSeconds(30))
          .withDescription(
              "Longest silence of a read or upload stream before it is given up (a read then"
                  + " continues from the target).");

  public static final ConfigOption<Duration> MAX_CLOCK_SKEW =
      ConfigOptions.key("checkpoint-cache.max-clock-skew")
          .durationType()
          .defaultValue(Duration.ofSeconds(10))
          .withDescription(
              "How far the node's clock and the target's may disagree. A cached copy made more"
                  + " than this before the real file's modification time is a copy of an older"
                  + " version and is not read; 0 compares lengths only.");
}
