// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { WriteHeader as _checkpointcache_v1_WriteHeader, WriteHeader__Output as _checkpointcache_v1_WriteHeader__Output } from '../../checkpointcache/v1/WriteHeader';

export interface IngestRequest {
  'header'?: (_checkpointcache_v1_WriteHeader | null);
  'fileName'?: (string);
  'handOver'?: (boolean);
}

export interface IngestRequest__Output {
  'header': (_checkpointcache_v1_WriteHeader__Output | null);
  'fileName': (string);
  'handOver': (boolean);
}
