export { CheckpointCacheService, type CheckpointCacheServiceOptions } from './checkpoint-cache-service';
