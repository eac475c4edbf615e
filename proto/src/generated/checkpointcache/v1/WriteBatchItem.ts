// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { WriteHeader as _checkpointcache_v1_WriteHeader, WriteHeader__Output as _checkpointcache_v1_WriteHeader__Output } from '../../checkpointcache/v1/WriteHeader';

export interface WriteBatchItem {
  'header'?: (_checkpointcache_v1_WriteHeader | null);
  'data'?: (Buffer | Uint8Array | string);
}

export interface WriteBatchItem__Output {
  'header': (_checkpointcache_v1_WriteHeader__Output | null);
  'data': (Buffer);
}
