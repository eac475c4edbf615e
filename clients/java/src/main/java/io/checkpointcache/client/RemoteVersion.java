package io.checkpointcache.client;

import io.checkpointcache.v1.EntryInfo;

/**
 * What the caller knows of the remote file that a cached entry must be a copy of: its size and,
 * when the remote store tells (0 otherwise), when it was last modified. A read given one uses the
 * agent's entry only if the entry has that size and was created after the file last changed; any
 * other entry is a copy of an earlier version (the file was replaced behind the cache's back) and
 * the read goes to the remote store ({@link FallbackReason#STALE_ENTRY}).
 *
 * <p>Creation and modification times come from two clocks (the agent's node, the remote store):
 * {@code clockSkewMs} is how far they may disagree. A replacement of the same size within that
 * margin after the entry was made is not detected; the whole-entry CRC32C check does not catch it
 * either, since the stale copy is consistent in itself.
 *
 * @param size the remote file's length in bytes
 * @param modifiedAtMs its last modification, Unix milliseconds; 0 when unknown (size only)
 * @param clockSkewMs how much earlier than {@code modifiedAtMs} an entry may have been created
 */
public record RemoteVersion(long size, long modifiedAtMs, long clockSkewMs) {
  public RemoteVersion {
    if (size < 0) throw new IllegalArgumentException("size must be >= 0, got " + size);
    if (clockSkewMs < 0) {
      throw new IllegalArgumentException("clockSkewMs must be >= 0, got " + clockSkewMs);
    }
  }

  /** Only the size is known. */
  public static RemoteVersion ofSize(long size) {
    return new RemoteVersion(size, 0, 0);
  }

  /** Why {@code entry} is not a copy of this version, or null when it may be. */
  String staleness(EntryInfo entry) {
    if (entry.getSize() != size) {
      return "the cached copy has " + entry.getSize() + " bytes, the remote file " + size;
    }
    if (modifiedAtMs > 0 && entry.getCreatedAtMs() > 0
        && entry.getCreatedAtMs() < modifiedAtMs - clockSkewMs) {
      return "the cached copy was made at " + entry.getCreatedAtMs() + " ms, before the remote"
          + " file last changed (" + modifiedAtMs + " ms, allowing " + clockSkewMs
          + " ms of clock skew)";
    }
    return null;
  }

  /** True when the range from {@code offset} ({@code length} bytes, null: to the end) fits. */
  boolean covers(long offset, Long length) {
    return offset <= size && (length == null || offset + length <= size);
  }
}
