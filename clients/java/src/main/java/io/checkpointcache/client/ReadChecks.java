package io.checkpointcache.client;

import io.checkpointcache.v1.Chunk;
import io.checkpointcache.v1.EntryInfo;
import io.checkpointcache.v1.ReadHeader;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * The checks a read applies to what the agent streams (the TypeScript client's {@code
 * read-checks.ts}): the header against the range asked for, each chunk against its CRC32C and the
 * position reached. Pure functions, no I/O.
 *
 * <p>Owns: what counts as a bad header or chunk and how it is described. Never: what the read
 * does about it (the fallback policy and {@link CheckpointReadStream} decide).
 */
final class ReadChecks {
  private ReadChecks() {}

  /** A chunk that failed its check: the fallback reason and what to tell a person. */
  record Problem(FallbackReason reason, String detail) {}

  /**
   * Why {@code h} does not describe the range {@code offset}+{@code length} asked for (length
   * null: to the end of the entry); null when it does.
   */
  static String headerProblem(ReadHeader h, long offset, Long length) {
    EntryInfo entry = h.hasEntry() ? h.getEntry() : null;
    if (h.getOffset() != offset) {
      return "header offset " + h.getOffset() + ", asked for " + offset;
    } else if (length != null && h.getLength() != length) {
      return "header length " + h.getLength() + ", asked for " + length;
    } else if (entry != null && h.getOffset() + h.getLength() > entry.getSize()) {
      return "header range " + h.getOffset() + "+" + h.getLength() + " exceeds entry size "
          + entry.getSize();
    } else if (entry != null
        && length == null
        && h.getOffset() + h.getLength() != entry.getSize()) {
      return "header range " + h.getOffset() + "+" + h.getLength() + " stops before the end ("
          + entry.getSize() + ")";
    }
    return null;
  }

  /**
   * Whether the entry the agent's header describes ({@code streamed}, null when it described
   * none) is the one a short circuit leased before; null when it is, or when nothing was leased.
   */
  static String leaseProblem(EntryInfo streamed, EntryInfo leased) {
    if (leased == null) return null;
    if (streamed == null
        || streamed.getSize() != leased.getSize()
        || streamed.getCrc32C() != leased.getCrc32C()) {
      return "the entry changed between the lease and the stream";
    }
    return null;
  }

  /**
   * Checks a streamed chunk that should start at {@code position} and not run past {@code end}
   * against the CRC32C the agent sent with it; null when it passes.
   */
  static Problem chunkProblem(Chunk c, ByteBuffer bytes, long position, long end) {
    if (c.getOffset() != position) {
      return new Problem(
          FallbackReason.OFFSET_MISMATCH,
          "chunk at offset " + c.getOffset() + ", expected " + position);
    }
    CRC32C crc = new CRC32C();
    crc.update(bytes.duplicate());
    int actual = (int) crc.getValue();
    if (!c.hasCrc32C() || c.getCrc32C() != actual) {
      return new Problem(
          FallbackReason.CHECKSUM_MISMATCH,
          "chunk at offset " + c.getOffset() + " (" + bytes.remaining() + " bytes) has CRC32C "
              + CheckpointReadStream.hex(actual) + ", agent sent "
              + (c.hasCrc32C() ? CheckpointReadStream.hex(c.getCrc32C()) : "none"));
    }
    if (c.getOffset() + bytes.remaining() > end) {
      return new Problem(
          FallbackReason.PROTOCOL_ERROR, "chunk at offset " + c.getOffset() + " runs past " + end);
    }
    return null;
  }
}
