export {
  PEER_READ_METADATA,
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
export { installZeroCopyFraming } from './read-wire';
export type { IngestHow, ReadOutcome, ServiceObserver, WriteOutcome } from './service-observer';
export { drained } from './drained';
