// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { Long } from '@grpc/proto-loader';

export interface ReleaseResponse {
  'releasedEntries'?: (number | string | Long);
  'releasedBytes'?: (number | string | Long);
}

export interface ReleaseResponse__Output {
  'releasedEntries': (number);
  'releasedBytes': (number);
}
