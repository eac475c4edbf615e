package io.checkpointcache.flink;

import java.util.regex.Pattern;
import org.apache.flink.core.fs.Path;

/**
 * The job and checkpoint a checkpoint file belongs to, read from Flink's checkpoint layout:
 * {@code <dir>/<job-id>/chk-<n>/...} (files of one checkpoint), {@code <dir>/<job-id>/shared/...}
 * (incremental files several checkpoints share) and {@code <dir>/<job-id>/taskowned/...}.
 * Owns: parsing that layout. Never: I/O.
 *
 * <p>The leftmost match of {@code <32 hex>/(chk-<n>|shared|taskowned)} decides, so a directory
 * that contains the match labels every file below it the same way; that is what lets a directory
 * delete list only the cache entries of that job (and checkpoint).
 *
 * @param jobId the job id, or the configured default (possibly empty) when the path has none
 * @param checkpointId {@code n} of {@code chk-<n>}; 0 for shared, task-owned and other files
 * @param fromLayout true when the path matched Flink's layout
 */
record CheckpointLabels(String jobId, long checkpointId, boolean fromLayout) {
  private static final Pattern JOB_ID = Pattern.compile("[0-9a-f]{32}");
  private static final Pattern CHECKPOINT_DIR = Pattern.compile("chk-([0-9]{1,18})");

  /** Labels of the file {@code file} (its own name is never taken as a directory). */
  static CheckpointLabels ofFile(Path file, String defaultJobId) {
    String[] segments = segments(file);
    return parse(segments, segments.length - 1, defaultJobId);
  }

  /** Labels every file below {@code dir} shares, when the layout determines them. */
  static CheckpointLabels ofDirectory(Path dir, String defaultJobId) {
    String[] segments = segments(dir);
    return parse(segments, segments.length, defaultJobId);
  }

  private static CheckpointLabels parse(String[] segments, int dirSegments, String defaultJobId) {
    for (int i = 0; i + 1 < dirSegments; i++) {
      if (!JOB_ID.matcher(segments[i]).matches()) continue;
      String marker = segments[i + 1];
      var chk = CHECKPOINT_DIR.matcher(marker);
      if (chk.matches()) return new CheckpointLabels(segments[i], Long.parseLong(chk.group(1)), true);
      if (marker.equals("shared") || marker.equals("taskowned")) {
        return new CheckpointLabels(segments[i], 0, true);
      }
    }
    return new CheckpointLabels(defaultJobId == null ? "" : defaultJobId, 0, false);
  }

  private static String[] segments(Path path) {
    String p = path.toUri().getPath();
    if (p == null || p.isEmpty() || p.equals("/")) return new String[0];
    return (p.startsWith("/") ? p.substring(1) : p).split("/");
  }
}
