package io.checkpointcache.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.Test;

class CheckpointLabelsTest {
  private static final String JOB = "0123456789abcdef0123456789abcdef";

  @Test
  void exclusiveFilesCarryJobAndCheckpoint() {
    assertEquals(
        new CheckpointLabels(JOB, 42, true),
        CheckpointLabels.ofFile(new Path("hdfs://nn/ckpt/" + JOB + "/chk-42/5f0c-uuid"), "cfg"));
  }

  @Test
  void sharedAndTaskOwnedFilesCarryTheJobOnly() {
    assertEquals(
        new CheckpointLabels(JOB, 0, true),
        CheckpointLabels.ofFile(new Path("file:/c/" + JOB + "/shared/op/abc.sst"), ""));
    assertEquals(
        new CheckpointLabels(JOB, 0, true),
        CheckpointLabels.ofFile(new Path("file:/c/" + JOB + "/taskowned/x"), ""));
  }

  @Test
  void otherFilesGetTheConfiguredJob() {
    assertEquals(
        new CheckpointLabels("cfg", 0, false),
        CheckpointLabels.ofFile(new Path("file:/savepoints/sp-1/_metadata"), "cfg"));
    // A file's own name is never read as a directory of the layout.
    assertEquals(
        new CheckpointLabels("", 0, false),
        CheckpointLabels.ofFile(new Path("file:/x/" + JOB), ""));
  }

  @Test
  void theLeftmostMatchDecidesSoDirectoriesAgreeWithTheirFiles() {
    String nested = "/c/" + JOB + "/chk-5/sub/ffffffffffffffffffffffffffffffff/chk-9/f";
    assertEquals(new CheckpointLabels(JOB, 5, true), CheckpointLabels.ofFile(new Path(nested), ""));
    assertEquals(
        new CheckpointLabels(JOB, 5, true),
        CheckpointLabels.ofDirectory(new Path("/c/" + JOB + "/chk-5"), ""));
    // The job directory itself does not say which checkpoint directories lie below it.
    assertEquals(
        new CheckpointLabels("", 0, false),
        CheckpointLabels.ofDirectory(new Path("/c/" + JOB), ""));
  }
}
