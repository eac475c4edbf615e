// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { Long } from '@grpc/proto-loader';

export interface DeletePrefixResponse {
  'entries'?: (number | string | Long);
  'bytes'?: (number | string | Long);
  'nodesTold'?: (number);
}

export interface DeletePrefixResponse__Output {
  'entries': (number);
  'bytes': (number);
  'nodesTold': (number);
}
