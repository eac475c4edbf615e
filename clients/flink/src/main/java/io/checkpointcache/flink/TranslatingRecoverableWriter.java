package io.checkpointcache.flink;

import java.io.IOException;
import java.util.function.Function;
import org.apache.flink.core.fs.Path;
import org.apache.flink.core.fs.RecoverableFsDataOutputStream;
import org.apache.flink.core.fs.RecoverableWriter;
import org.apache.flink.core.io.SimpleVersionedSerializer;

/**
 * The target's recoverable writer (file sinks; Flink's checkpoint metadata file) under ckc://
 * paths. Files written this way are not cached: they are not what a task reads on recovery.
 * Opening one invalidates any cached copy of the same path first, so the cache never serves
 * bytes the real file system no longer has.
 */
final class TranslatingRecoverableWriter implements RecoverableWriter {
  /** Invalidates the cache entry of a real path about to be written. */
  interface Invalidator {
    void invalidate(Path real);
  }

  private final RecoverableWriter real;
  private final Function<Path, Path> toTarget;
  private final Invalidator invalidator;

  TranslatingRecoverableWriter(
      RecoverableWriter real, Function<Path, Path> toTarget, Invalidator invalidator) {
    this.real = real;
    this.toTarget = toTarget;
    this.invalidator = invalidator;
  }

  @Override
  public RecoverableFsDataOutputStream open(Path path) throws IOException {
    Path target = toTarget.apply(path);
    invalidator.invalidate(target);
    return real.open(target);
  }

  @Override
  public RecoverableFsDataOutputStream recover(ResumeRecoverable resumable) throws IOException {
    return real.recover(resumable);
  }

  @Override
  public boolean requiresCleanupOfRecoverableState() {
    return real.requiresCleanupOfRecoverableState();
  }

  @Override
  public boolean cleanupRecoverableState(ResumeRecoverable resumable) throws IOException {
    return real.cleanupRecoverableState(resumable);
  }

  @Override
  public RecoverableFsDataOutputStream.Committer recoverForCommit(CommitRecoverable resumable)
      throws IOException {
    return real.recoverForCommit(resumable);
  }

  @Override
  public SimpleVersionedSerializer<CommitRecoverable> getCommitRecoverableSerializer() {
    return real.getCommitRecoverableSerializer();
  }

  @Override
  public SimpleVersionedSerializer<ResumeRecoverable> getResumeRecoverableSerializer() {
    return real.getResumeRecoverableSerializer();
  }

  @Override
  public boolean supportsResume() {
    return real.supportsResume();
  }
}
