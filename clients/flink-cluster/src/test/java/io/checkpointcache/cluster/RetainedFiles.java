package io.checkpointcache.cluster;

import java.io.DataInputStream;
import java.io.IOException;
import java.net.URI;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.runtime.checkpoint.Checkpoints;
import org.apache.flink.runtime.checkpoint.OperatorState;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.checkpoint.metadata.CheckpointMetadata;
import org.apache.flink.runtime.state.IncrementalRemoteKeyedStateHandle;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.OperatorStateHandle;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.filesystem.FileStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;

/**
 * The files a completed checkpoint references, read from its {@code _metadata} with Flink's own
 * loader (what a restore reads): every file-backed state handle of every subtask, RocksDB's shared
 * SST files, its private files and meta file under {@code chk-N} included. State small enough to
 * be inlined in the metadata ({@code ByteStreamStateHandle}) is no file and never reaches the cache,
 * so it is not counted; nor is {@code _metadata} itself (the plugin does not cache it).
 *
 * <p>Why the metadata and not a listing of {@code chk-N} and {@code shared/}: a listing counts
 * files Flink has not deleted yet (subsumed shared files go asynchronously) and files of an
 * aborted checkpoint, so it says what HDFS holds, not what the retained checkpoint needs.
 */
final class RetainedFiles {
  private RetainedFiles() {}

  /**
   * Path → size of each file the checkpoint at {@code externalPointer} (as Flink's REST API gives
   * it, {@code ckc:/...} or {@code hdfs://...}) references; its metadata is read from {@code hdfsUri}.
   */
  static Map<String, Long> of(String hdfsUri, String externalPointer) throws IOException {
    String dir = URI.create(externalPointer).getPath();
    URI metadata = URI.create(hdfsUri + dir + "/_metadata");
    CheckpointMetadata checkpoint;
    try (FileSystem fs = FileSystem.newInstance(metadata, new Configuration());
        DataInputStream in = new DataInputStream(fs.open(new org.apache.hadoop.fs.Path(metadata)))) {
      checkpoint = Checkpoints.loadCheckpointMetadata(in, RetainedFiles.class.getClassLoader(), externalPointer);
    }
    Map<String, Long> files = new TreeMap<>();
    for (OperatorState operator : checkpoint.getOperatorStates()) {
      for (OperatorSubtaskState subtask : operator.getStates()) {
        for (KeyedStateHandle h : subtask.getManagedKeyedState()) keyed(h, files);
        for (KeyedStateHandle h : subtask.getRawKeyedState()) keyed(h, files);
        for (OperatorStateHandle h : subtask.getManagedOperatorState()) add(h.getDelegateStateHandle(), files);
        for (OperatorStateHandle h : subtask.getRawOperatorState()) add(h.getDelegateStateHandle(), files);
      }
    }
    return files;
  }

  private static void keyed(KeyedStateHandle h, Map<String, Long> files) {
    if (h instanceof IncrementalRemoteKeyedStateHandle incremental) {
      incremental.streamSubHandles().forEach(s -> add(s, files));
    } else if (h instanceof KeyGroupsStateHandle groups) {
      add(groups.getDelegateStateHandle(), files);
    } else {
      throw new IllegalStateException("a keyed state handle this count does not know: " + h.getClass());
    }
  }

  private static void add(StreamStateHandle h, Map<String, Long> files) {
    if (h == null || h instanceof ByteStreamStateHandle) return;
    if (!(h instanceof FileStateHandle file)) {
      throw new IllegalStateException("a state handle this count does not know: " + h.getClass());
    }
    files.put(file.getFilePath().toString(), file.getStateSize());
  }
}
