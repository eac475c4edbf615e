/**
 * The one error hierarchy of checkpoint-cache, and the one mapping from it to gRPC status codes.
 * Owns: error names, codes and the status each maps to. Never: logging or retries.
 */
export { ErrorCode, CacheError, isCacheError, hasErrorCode } from './cache-error';
export { toGrpcStatus, type GrpcStatusObject } from './grpc-status';
