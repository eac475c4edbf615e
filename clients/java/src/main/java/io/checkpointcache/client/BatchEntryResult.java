package io.checkpointcache.client;

/**
 * What became of one entry of {@link CheckpointCacheClient#writeBatch}: stored ({@link #result},
 * {@code created} false when the agent already held the same bytes), or the error a {@code put}
 * of it would have thrown ({@link #error}; nothing of it was stored, except after a
 * DEADLINE_EXCEEDED or CANCELLED of its call, see WriteBatch in the .proto). Exactly one is set.
 */
public record BatchEntryResult(PutResult result, CheckpointCacheException error) {
  public BatchEntryResult {
    if ((result == null) == (error == null)) {
      throw new IllegalArgumentException("exactly one of result and error");
    }
  }

  public boolean ok() {
    return error == null;
  }
}
