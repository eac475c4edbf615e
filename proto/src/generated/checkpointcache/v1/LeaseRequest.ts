// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { Long } from '@grpc/proto-loader';

export interface LeaseRequest {
  'key'?: (string);
  'durationMs'?: (number | string | Long);
  'acceptOffset'?: (boolean);
}

export interface LeaseRequest__Output {
  'key': (string);
  'durationMs': (number);
  'acceptOffset': (boolean);
}
