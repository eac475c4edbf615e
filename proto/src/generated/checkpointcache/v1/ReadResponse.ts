// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { ReadHeader as _checkpointcache_v1_ReadHeader, ReadHeader__Output as _checkpointcache_v1_ReadHeader__Output } from '../../checkpointcache/v1/ReadHeader';
import type { Chunk as _checkpointcache_v1_Chunk, Chunk__Output as _checkpointcache_v1_Chunk__Output } from '../../checkpointcache/v1/Chunk';

export interface ReadResponse {
  'header'?: (_checkpointcache_v1_ReadHeader | null);
  'chunk'?: (_checkpointcache_v1_Chunk | null);
  'kind'?: "header"|"chunk";
}

export interface ReadResponse__Output {
  'header'?: (_checkpointcache_v1_ReadHeader__Output | null);
  'chunk'?: (_checkpointcache_v1_Chunk__Output | null);
  'kind'?: "header"|"chunk";
}
