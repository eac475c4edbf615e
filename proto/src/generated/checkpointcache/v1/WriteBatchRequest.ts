// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { WriteBatchItem as _checkpointcache_v1_WriteBatchItem, WriteBatchItem__Output as _checkpointcache_v1_WriteBatchItem__Output } from '../../checkpointcache/v1/WriteBatchItem';

export interface WriteBatchRequest {
  'items'?: (_checkpointcache_v1_WriteBatchItem)[];
}

export interface WriteBatchRequest__Output {
  'items': (_checkpointcache_v1_WriteBatchItem__Output)[];
}
