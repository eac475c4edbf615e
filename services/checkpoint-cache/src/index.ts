export {
  CheckpointCacheService,
  DEFAULT_MAX_CHUNK_SIZE,
  type CheckpointCacheServiceOptions,
} from './checkpoint-cache-service';
export { encodeReadChunk } from './chunk-encoding';
export type { ReadOutcome, ServiceObserver, WriteOutcome } from './service-observer';
