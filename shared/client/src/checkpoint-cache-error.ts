/**
 * The error of every failed call to the node agent, carrying the gRPC status and the agent's
 * message, so callers branch on `.code` and print `.details`.
 * Owns: turning grpc-js ServiceErrors into one client error type.
 */
import { status, type ServiceError } from '@grpc/grpc-js';

export class CheckpointCacheError extends Error {
  override readonly name = 'CheckpointCacheError';

  constructor(
    /** The gRPC status code (`status.NOT_FOUND` ...). */
    readonly code: status,
    /** The agent's message (or the client's, for failures the client detected itself). */
    readonly details: string,
    /** The RPC that failed: `Read`, `Write`, `Stat`, ... */
    readonly rpc: string,
    options?: { cause?: unknown; key?: string },
  ) {
    super(
      `${rpc}${options?.key === undefined ? '' : ` ${JSON.stringify(options.key)}`} failed: ` +
        `${statusName(code)}: ${details}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
  }

  /** `NOT_FOUND`, `DATA_LOSS`, ... */
  get codeName(): string {
    return statusName(this.code);
  }

  static fromServiceError(err: ServiceError, rpc: string, key?: string): CheckpointCacheError {
    return new CheckpointCacheError(err.code, err.details || err.message, rpc, { cause: err, key });
  }
}

/** True when `err` is a CheckpointCacheError (with `code`, when given). */
export function isCheckpointCacheError(err: unknown, code?: status): err is CheckpointCacheError {
  return err instanceof CheckpointCacheError && (code === undefined || err.code === code);
}

/** The name of a gRPC status code (`5` → `NOT_FOUND`). */
export function statusName(code: status): string {
  return status[code] ?? `STATUS_${code}`;
}
