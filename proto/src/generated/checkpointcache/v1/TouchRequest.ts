// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { Long } from '@grpc/proto-loader';

export interface TouchRequest {
  'key'?: (string);
  'checkpointId'?: (number | string | Long);
  'ttlMs'?: (number | string | Long);
}

export interface TouchRequest__Output {
  'key': (string);
  'checkpointId': (number);
  'ttlMs': (number);
}
