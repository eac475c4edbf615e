package io.checkpointcache.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.google.protobuf.ByteString;
import io.checkpointcache.v1.Chunk;
import io.checkpointcache.v1.EntryInfo;
import io.checkpointcache.v1.ReadHeader;
import org.junit.jupiter.api.Test;

/** What counts as a bad header or chunk from the agent, and how it is described (no I/O). */
class ReadChecksTest {
  private static final EntryInfo ENTRY =
      EntryInfo.newBuilder().setKey("k").setSize(100).setCrc32C(0x1234).build();

  private static ReadHeader header(long offset, long length) {
    return ReadHeader.newBuilder().setOffset(offset).setLength(length).setEntry(ENTRY).build();
  }

  @Test
  void aHeaderMustDescribeTheRangeAskedFor() {
    assertNull(ReadChecks.headerProblem(header(0, 100), 0, null));
    assertNull(ReadChecks.headerProblem(header(10, 20), 10, 20L));
    assertEquals(
        "header offset 5, asked for 10", ReadChecks.headerProblem(header(5, 20), 10, 20L));
    assertEquals(
        "header length 30, asked for 20", ReadChecks.headerProblem(header(10, 30), 10, 20L));
    assertEquals(
        "header range 90+20 exceeds entry size 100",
        ReadChecks.headerProblem(header(90, 20), 90, 20L));
    assertEquals(
        "header range 10+50 stops before the end (100)",
        ReadChecks.headerProblem(header(10, 50), 10, null));
  }

  @Test
  void aStreamedEntryMustBeTheLeasedOne() {
    assertNull(ReadChecks.leaseProblem(ENTRY, null));
    assertNull(ReadChecks.leaseProblem(ENTRY, ENTRY));
    EntryInfo other = ENTRY.toBuilder().setCrc32C(0x4321).build();
    String changed = "the entry changed between the lease and the stream";
    assertEquals(changed, ReadChecks.leaseProblem(other, ENTRY));
    assertEquals(changed, ReadChecks.leaseProblem(null, ENTRY));
  }

  @Test
  void aChunkMustStartAtThePositionCarryItsCrcAndStayInRange() {
    byte[] bytes = {1, 2, 3, 4};
    int crc = TestBytes.crc32c(bytes);
    Chunk good =
        Chunk.newBuilder().setOffset(8).setData(ByteString.copyFrom(bytes)).setCrc32C(crc).build();
    assertNull(ReadChecks.chunkProblem(good, good.getData().asReadOnlyByteBuffer(), 8, 12));

    ReadChecks.Problem offset =
        ReadChecks.chunkProblem(good, good.getData().asReadOnlyByteBuffer(), 4, 12);
    assertEquals(FallbackReason.OFFSET_MISMATCH, offset.reason());
    assertEquals("chunk at offset 8, expected 4", offset.detail());

    Chunk bad = good.toBuilder().setCrc32C(crc ^ 1).build();
    ReadChecks.Problem checksum =
        ReadChecks.chunkProblem(bad, bad.getData().asReadOnlyByteBuffer(), 8, 12);
    assertEquals(FallbackReason.CHECKSUM_MISMATCH, checksum.reason());
    assertEquals(
        "chunk at offset 8 (4 bytes) has CRC32C " + CheckpointReadStream.hex(crc) + ", agent sent "
            + CheckpointReadStream.hex(crc ^ 1),
        checksum.detail());

    Chunk none = good.toBuilder().clearCrc32C().build();
    assertEquals(
        FallbackReason.CHECKSUM_MISMATCH,
        ReadChecks.chunkProblem(none, none.getData().asReadOnlyByteBuffer(), 8, 12).reason());

    ReadChecks.Problem past =
        ReadChecks.chunkProblem(good, good.getData().asReadOnlyByteBuffer(), 8, 10);
    assertEquals(FallbackReason.PROTOCOL_ERROR, past.reason());
    assertEquals("chunk at offset 8 runs past 10", past.detail());
  }
}
