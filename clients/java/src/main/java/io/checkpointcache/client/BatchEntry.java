package io.checkpointcache.client;

import java.util.Objects;

/**
 * One entry of {@link CheckpointCacheClient#writeBatch}: its key, all its bytes (which must not
 * change until the call returns), and the options a {@code put} of it takes (null: {@link
 * PutOptions#DEFAULT}). Size and CRC32C are always sent: computed from {@code data} when the
 * options leave them out.
 */
public record BatchEntry(String key, byte[] data, PutOptions options) {
  public BatchEntry {
    Objects.requireNonNull(key, "key");
    Objects.requireNonNull(data, "data");
    options = options == null ? PutOptions.DEFAULT : options;
  }

  public BatchEntry(String key, byte[] data) {
    this(key, data, null);
  }
}
