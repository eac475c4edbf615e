/**
 * When a read gives up on the node agent and continues from the remote store.
 * Owns: the list of fallback statuses and the names of client-detected failures.
 *
 * The cache is an optimisation: whatever the agent cannot do (miss, crash, hang, corrupt bytes,
 * a version without the RPC) is served from the remote store. Only the caller's own mistake,
 * INVALID_ARGUMENT (e.g. a range past the end of the entry), is surfaced, because the remote
 * store would reject the same request.
 */
import { status } from '@grpc/grpc-js';

/** gRPC statuses of a Read that make the client continue from the remote store. */
export const FALLBACK_STATUSES: ReadonlySet<status> = new Set([
  status.NOT_FOUND,
  status.UNAVAILABLE,
  status.DEADLINE_EXCEEDED,
  status.DATA_LOSS,
  status.CANCELLED,
  status.INTERNAL,
  status.UNKNOWN,
  status.UNIMPLEMENTED,
  status.RESOURCE_EXHAUSTED,
]);

/** Failures the client detects itself, besides the statuses above. */
export type LocalReadFault =
  /** A chunk's CRC32C is missing or does not match its bytes. */
  | 'CHECKSUM_MISMATCH'
  /** A chunk does not start where the previous one ended. */
  | 'OFFSET_MISMATCH'
  /** The stream ended OK before the header's range was complete. */
  | 'ENDED_EARLY'
  /** No header within `deadlines.firstMessageMs`. */
  | 'FIRST_MESSAGE_TIMEOUT'
  /** No message for `deadlines.idleMs` while the consumer was waiting. */
  | 'IDLE_TIMEOUT'
  /** The header describes another range than the one asked for. */
  | 'BAD_HEADER'
  /** Messages out of order: a chunk before the header, a second header, an empty message. */
  | 'PROTOCOL_ERROR'
  /**
   * Every chunk verified, but the CRC32C of the whole entry differs from the header's: the bytes
   * are checked against the remote store before the read ends (see CheckpointReadStream.finish).
   */
  | 'WHOLE_CHECKSUM_MISMATCH';

/** A gRPC status name: `NOT_FOUND`, `DATA_LOSS`, ... */
export type StatusName = keyof typeof status;

/** Why a read left the cache: the status the agent ended it with, or a LocalReadFault. */
export type FallbackReason = StatusName | LocalReadFault;

/** The status a client-detected fault is reported with when there is no remote to fall back to. */
export function statusOfFault(fault: LocalReadFault): status {
  switch (fault) {
    case 'CHECKSUM_MISMATCH':
    case 'WHOLE_CHECKSUM_MISMATCH':
      return status.DATA_LOSS;
    case 'FIRST_MESSAGE_TIMEOUT':
    case 'IDLE_TIMEOUT':
      return status.DEADLINE_EXCEEDED;
    default:
      return status.INTERNAL;
  }
}
