/**
 * What went wrong, in domain terms. Each code maps to exactly one gRPC status (grpc-status.ts);
 * messages are written for the person who has to act on them.
 */
export enum ErrorCode {
  InvalidArgument = 'INVALID_ARGUMENT',
  NotFound = 'NOT_FOUND',
  AlreadyExists = 'ALREADY_EXISTS',
  FailedPrecondition = 'FAILED_PRECONDITION',
  ResourceExhausted = 'RESOURCE_EXHAUSTED',
  /** The caller may not do this over the way it connected (see the agent's write access policy). */
  PermissionDenied = 'PERMISSION_DENIED',
  DataLoss = 'DATA_LOSS',
  Unavailable = 'UNAVAILABLE',
  Cancelled = 'CANCELLED',
  Internal = 'INTERNAL',
}

export class CacheError extends Error {
  override readonly name: string = 'CacheError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isCacheError(err: unknown): err is CacheError {
  return err instanceof CacheError;
}

/** True when `err` or any error in its `cause` chain is a CacheError with `code`. */
export function hasErrorCode(err: unknown, code: ErrorCode): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 16; depth++) {
    if (e instanceof CacheError && e.code === code) return true;
    e = e.cause;
  }
  return false;
}
