/**
 * What the service reports about the calls it serves (the agent turns it into metrics). The
 * outcome names are part of the metrics' contract; keep them stable.
 */
import { ErrorCode, hasErrorCode } from '@checkpoint-cache/errors';

export type ReadOutcome = 'hit' | 'miss' | 'data_loss' | 'invalid' | 'cancelled' | 'error';
export type WriteOutcome =
  'created' | 'exists' | 'rejected' | 'no_space' | 'cancelled' | 'unavailable' | 'error';
/**
 * How an Ingest that stored its entry got the bytes there: `linked` (handed over), `copied` (no
 * hand-over asked), `handover_copied` (a hand-over the agent could not link; the log says why).
 */
export type IngestHow = 'linked' | 'copied' | 'handover_copied';

export interface ServiceObserver {
  readStarted(): void;
  /** Seconds from the call's arrival to its first chunk (or its end, for an empty range). */
  readFirstByte(seconds: number): void;
  readFinished(outcome: ReadOutcome, bytes: number, seconds: number): void;
  /** A Write or Ingest call began. */
  writeStarted(): void;
  writeFinished(outcome: WriteOutcome, bytes: number): void;
  /** A WriteBatch call of `items` items (1 to 1,000) began. */
  writeBatchStarted(items: number): void;
  /**
   * One item of a WriteBatch ended as a Write of it would have: counted as one write, so that the
   * write outcomes stay complete whichever call carried the entry.
   */
  writeBatchItemFinished(outcome: WriteOutcome, bytes: number): void;
  /** The WriteBatch call has its results (every writeBatchItemFinished came before). */
  writeBatchFinished(): void;
  /** An Ingest stored its entry (also counted by writeFinished). */
  ingested(how: IngestHow): void;
  /**
   * A lease was granted on an entry of `bytes` bytes: a same-node reader reads it straight from
   * the cache directory, so these bytes never pass through Read.
   */
  leaseGranted(bytes: number): void;
}

export function readOutcomeOf(err: unknown, cancelled: boolean): ReadOutcome {
  if (cancelled || hasErrorCode(err, ErrorCode.Cancelled)) return 'cancelled';
  if (hasErrorCode(err, ErrorCode.NotFound)) return 'miss';
  if (hasErrorCode(err, ErrorCode.DataLoss)) return 'data_loss';
  if (hasErrorCode(err, ErrorCode.InvalidArgument)) return 'invalid';
  return 'error';
}

export function writeOutcomeOf(err: unknown, cancelled: boolean): WriteOutcome {
  if (cancelled || hasErrorCode(err, ErrorCode.Cancelled)) return 'cancelled';
  if (hasErrorCode(err, ErrorCode.ResourceExhausted)) return 'no_space';
  if (hasErrorCode(err, ErrorCode.Unavailable)) return 'unavailable';
  for (const code of [
    ErrorCode.InvalidArgument,
    ErrorCode.FailedPrecondition,
    ErrorCode.AlreadyExists,
  ]) {
    if (hasErrorCode(err, code)) return 'rejected';
  }
  return 'error';
}
