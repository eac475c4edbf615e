// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { WriteHeader as _checkpointcache_v1_WriteHeader, WriteHeader__Output as _checkpointcache_v1_WriteHeader__Output } from '../../checkpointcache/v1/WriteHeader';
import type { Chunk as _checkpointcache_v1_Chunk, Chunk__Output as _checkpointcache_v1_Chunk__Output } from '../../checkpointcache/v1/Chunk';

export interface WriteRequest {
  'header'?: (_checkpointcache_v1_WriteHeader | null);
  'chunk'?: (_checkpointcache_v1_Chunk | null);
  'kind'?: "header"|"chunk";
}

export interface WriteRequest__Output {
  'header'?: (_checkpointcache_v1_WriteHeader__Output | null);
  'chunk'?: (_checkpointcache_v1_Chunk__Output | null);
  'kind'?: "header"|"chunk";
}
