// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { WriteBatchResult as _checkpointcache_v1_WriteBatchResult, WriteBatchResult__Output as _checkpointcache_v1_WriteBatchResult__Output } from '../../checkpointcache/v1/WriteBatchResult';

export interface WriteBatchResponse {
  'results'?: (_checkpointcache_v1_WriteBatchResult)[];
}

export interface WriteBatchResponse__Output {
  'results': (_checkpointcache_v1_WriteBatchResult__Output)[];
}
