package io.checkpointcache.client;

import io.grpc.Status;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;

/**
 * Why a read left the node agent for the remote store: the status the agent ended the Read with,
 * or a failure the client detected itself. The names are the TypeScript client's
 * ({@code fallback-policy.ts}), so both clients' counters and the conformance data agree.
 *
 * <p>The cache is an optimisation: whatever the agent cannot do (miss, crash, hang, corrupt bytes,
 * a version without the RPC) is served from the remote store. Only the caller's own mistake,
 * INVALID_ARGUMENT (e.g. a range past the end of the entry), is surfaced, because the remote store
 * would reject the same request.
 */
public enum FallbackReason {
  NOT_FOUND(Status.Code.NOT_FOUND),
  UNAVAILABLE(Status.Code.UNAVAILABLE),
  DEADLINE_EXCEEDED(Status.Code.DEADLINE_EXCEEDED),
  DATA_LOSS(Status.Code.DATA_LOSS),
  CANCELLED(Status.Code.CANCELLED),
  INTERNAL(Status.Code.INTERNAL),
  UNKNOWN(Status.Code.UNKNOWN),
  UNIMPLEMENTED(Status.Code.UNIMPLEMENTED),
  RESOURCE_EXHAUSTED(Status.Code.RESOURCE_EXHAUSTED),
  /** A chunk's CRC32C is missing or does not match its bytes. */
  CHECKSUM_MISMATCH(Status.Code.DATA_LOSS),
  /** A chunk does not start where the previous one ended. */
  OFFSET_MISMATCH(Status.Code.INTERNAL),
  /** The stream ended OK before the header's range was complete. */
  ENDED_EARLY(Status.Code.INTERNAL),
  /** No header within the first-message timeout. */
  FIRST_MESSAGE_TIMEOUT(Status.Code.DEADLINE_EXCEEDED),
  /** No message for the idle timeout while the caller was waiting. */
  IDLE_TIMEOUT(Status.Code.DEADLINE_EXCEEDED),
  /** The header describes another range than the one asked for. */
  BAD_HEADER(Status.Code.INTERNAL),
  /** Messages out of order: a chunk before the header, a second header, an empty message. */
  PROTOCOL_ERROR(Status.Code.INTERNAL),
  /**
   * Every chunk verified, but the CRC32C of the whole entry is not the one its header gave. Found
   * at the last byte, so the remote store re-reads the whole range to check what was delivered.
   */
  WHOLE_CHECKSUM_MISMATCH(Status.Code.DATA_LOSS),
  /**
   * The agent's entry is not a copy of the remote file the caller described ({@link
   * RemoteVersion}): another size, or made before the file last changed. Also an INVALID_ARGUMENT
   * for a range the remote file has: the agent's copy is shorter.
   */
  STALE_ENTRY(Status.Code.FAILED_PRECONDITION);

  private static final Set<Status.Code> FALLBACK_STATUSES =
      EnumSet.of(
          Status.Code.NOT_FOUND,
          Status.Code.UNAVAILABLE,
          Status.Code.DEADLINE_EXCEEDED,
          Status.Code.DATA_LOSS,
          Status.Code.CANCELLED,
          Status.Code.INTERNAL,
          Status.Code.UNKNOWN,
          Status.Code.UNIMPLEMENTED,
          Status.Code.RESOURCE_EXHAUSTED);

  private final Status.Code status;

  FallbackReason(Status.Code status) {
    this.status = status;
  }

  /**
   * The status a read fails with when there is no remote to fall back to: the agent's own, or for
   * a client-detected fault the closest one (a checksum mismatch is DATA_LOSS, a timeout
   * DEADLINE_EXCEEDED, anything else INTERNAL).
   */
  public Status.Code status() {
    return status;
  }

  /** The error a read of {@code key} records (or fails with) for this reason: {@link #status()}. */
  CheckpointCacheException error(String details, String key) {
    return new CheckpointCacheException(status, details, "Read", key, null);
  }

  /** True when the client detected the failure itself (the agent did not end the call). */
  public boolean isClientDetected() {
    return ordinal() >= CHECKSUM_MISMATCH.ordinal();
  }

  /** The reason for a Read that ended with {@code code}, or empty when it must be surfaced. */
  public static Optional<FallbackReason> ofStatus(Status.Code code) {
    if (!FALLBACK_STATUSES.contains(code)) return Optional.empty();
    return Optional.of(valueOf(code.name()));
  }

  /**
   * The reason for a short circuit's Lease that failed with {@code code}, when the read should go
   * to the remote store at once: the agent itself failed it (down, hung), and asking it again
   * with Read would only add another deadline. Empty when the agent's stream answers instead: an
   * entry this node does not hold ({@code NOT_FOUND}: the agent's Read may still serve it from
   * another node's agent, a peer read), an agent without Lease ({@code UNIMPLEMENTED}), or a
   * status the policy does not act on: a bad key, or {@code FAILED_PRECONDITION} (an entry that
   * shares its file with others, leased without {@code accept_offset}: only Read serves it).
   */
  static Optional<FallbackReason> ofLeaseStatus(Status.Code code) {
    return code == Status.Code.UNIMPLEMENTED || code == Status.Code.NOT_FOUND
        ? Optional.empty()
        : ofStatus(code);
  }
}
