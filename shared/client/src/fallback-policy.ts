/**
 * When a read gives up on the node agent and continues from the remote store.
 * Owns: the list of fallback statuses and the names of client-detected failures. They mirror
 * test/conformance/fallback-policy.json, which the tests of every client check.
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

/**
 * Failures the client detects itself, besides the statuses above, each with the status a read
 * fails with when there is no remote to fall back to.
 */
export const LOCAL_READ_FAULTS = {
  /** A chunk's CRC32C is missing or does not match its bytes. */
  CHECKSUM_MISMATCH: status.DATA_LOSS,
  /** A chunk does not start where the previous one ended. */
  OFFSET_MISMATCH: status.INTERNAL,
  /** The stream ended OK before the header's range was complete. */
  ENDED_EARLY: status.INTERNAL,
  /** No header within `deadlines.firstMessageMs`. */
  FIRST_MESSAGE_TIMEOUT: status.DEADLINE_EXCEEDED,
  /** No message for `deadlines.idleMs` while the consumer was waiting. */
  IDLE_TIMEOUT: status.DEADLINE_EXCEEDED,
  /** The header describes another range than the one asked for. */
  BAD_HEADER: status.INTERNAL,
  /** Messages out of order: a chunk before the header, a second header, an empty message. */
  PROTOCOL_ERROR: status.INTERNAL,
  /**
   * Every chunk verified, but the CRC32C of the whole entry differs from the header's: the bytes
   * are checked against the remote store before the read ends (see CheckpointReadStream.finish).
   */
  WHOLE_CHECKSUM_MISMATCH: status.DATA_LOSS,
} as const satisfies Record<string, status>;

export type LocalReadFault = keyof typeof LOCAL_READ_FAULTS;

/** A gRPC status name: `NOT_FOUND`, `DATA_LOSS`, ... */
export type StatusName = keyof typeof status;

/** Why a read left the cache: the status the agent ended it with, or a LocalReadFault. */
export type FallbackReason = StatusName | LocalReadFault;

/** The status a client-detected fault is reported with when there is no remote to fall back to. */
export function statusOfFault(fault: LocalReadFault): status {
  return LOCAL_READ_FAULTS[fault];
}
