package io.checkpointcache.client;

import java.time.Duration;

/**
 * Labels and expectations of one {@link CheckpointCacheClient#put}.
 *
 * @param jobId Flink job that owns the entry (for release); empty for none
 * @param checkpointId checkpoint that first references the entry; 0 for none
 * @param size expected size; the agent rejects the write (FAILED_PRECONDITION) when it differs;
 *     null = not checked
 * @param crc32c expected CRC32C of the whole entry (unsigned, in an int); null = not checked
 * @param ttl TTL of the entry; null = the agent's default
 */
public record PutOptions(String jobId, long checkpointId, Long size, Integer crc32c, Duration ttl) {
  /** No labels, nothing checked beyond per-chunk checksums, the agent's default TTL. */
  public static final PutOptions DEFAULT = new PutOptions("", 0, null, null, null);

  public PutOptions {
    jobId = jobId == null ? "" : jobId;
    if (checkpointId < 0) throw new IllegalArgumentException("checkpointId must be >= 0");
    if (size != null && size < 0) throw new IllegalArgumentException("size must be >= 0");
    if (ttl != null && ttl.isNegative()) throw new IllegalArgumentException("ttl must be >= 0");
  }

  /** Options labelled with a job and checkpoint. */
  public static PutOptions of(String jobId, long checkpointId) {
    return new PutOptions(jobId, checkpointId, null, null, null);
  }

  public PutOptions withSize(Long size) {
    return new PutOptions(jobId, checkpointId, size, crc32c, ttl);
  }

  public PutOptions withCrc32c(Integer crc32c) {
    return new PutOptions(jobId, checkpointId, size, crc32c, ttl);
  }

  public PutOptions withTtl(Duration ttl) {
    return new PutOptions(jobId, checkpointId, size, crc32c, ttl);
  }
}
