import type * as grpc from '@grpc/grpc-js';
import type { NodeCache } from '@checkpoint-cache/cache';
import type { Logger } from '@checkpoint-cache/logger';

export interface CheckpointCacheServiceOptions {
  cache: NodeCache;
  logger?: Logger;
}

export class CheckpointCacheService {
  constructor(readonly options: CheckpointCacheServiceOptions) {}

  addToServer(_server: grpc.Server): void {
    throw new Error('not implemented');
  }
}
