export {
  CheckpointCacheService,
  DEFAULT_MAX_CHUNK_SIZE,
  type CheckpointCacheServiceOptions,
} from './checkpoint-cache-service';
export {
  AccessPolicy,
  transportOf,
  unixSocketInterceptor,
  type AccessPolicyOptions,
  type CallOrigin,
  type CallTransport,
  type WriteAccess,
} from './access-policy';
export { encodeReadChunk } from './chunk-encoding';
export { GRPC_FRAMED, GRPC_PREFIX_BYTES, zeroCopyFraming } from './grpc-framing';
export type { ReadOutcome, ServiceObserver, WriteOutcome } from './service-observer';
export { drained } from './drained';
