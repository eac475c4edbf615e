// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { Long } from '@grpc/proto-loader';

export interface WriteHeader {
  'key'?: (string);
  'jobId'?: (string);
  'checkpointId'?: (number | string | Long);
  'size'?: (number | string | Long);
  'crc32c'?: (number);
  'ttlMs'?: (number | string | Long);
  '_size'?: "size";
  '_crc32c'?: "crc32c";
}

export interface WriteHeader__Output {
  'key': (string);
  'jobId': (string);
  'checkpointId': (number);
  'size'?: (number);
  'crc32c'?: (number);
  'ttlMs': (number);
  '_size'?: "size";
  '_crc32c'?: "crc32c";
}
