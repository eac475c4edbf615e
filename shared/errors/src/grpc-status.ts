import { status } from '@grpc/grpc-js';
import { CacheError, ErrorCode } from './cache-error';

export interface GrpcStatusObject {
  code: status;
  details: string;
}

const STATUS_OF: Readonly<Record<ErrorCode, status>> = {
  [ErrorCode.InvalidArgument]: status.INVALID_ARGUMENT,
  [ErrorCode.NotFound]: status.NOT_FOUND,
  [ErrorCode.AlreadyExists]: status.ALREADY_EXISTS,
  [ErrorCode.FailedPrecondition]: status.FAILED_PRECONDITION,
  [ErrorCode.ResourceExhausted]: status.RESOURCE_EXHAUSTED,
  [ErrorCode.PermissionDenied]: status.PERMISSION_DENIED,
  [ErrorCode.DataLoss]: status.DATA_LOSS,
  [ErrorCode.Unavailable]: status.UNAVAILABLE,
  [ErrorCode.Cancelled]: status.CANCELLED,
  [ErrorCode.Internal]: status.INTERNAL,
};

/**
 * Maps any error to the status a handler sends. Unknown errors become INTERNAL with a generic
 * message: their text may hold paths or internals that callers have no use for (they are logged).
 */
export function toGrpcStatus(err: unknown): GrpcStatusObject {
  if (err instanceof CacheError) return { code: STATUS_OF[err.code], details: err.message };
  return { code: status.INTERNAL, details: 'internal error in the node agent; see its log' };
}
