// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { Long } from '@grpc/proto-loader';

export interface EntryInfo {
  'key'?: (string);
  'jobId'?: (string);
  'checkpointIds'?: (number | string | Long)[];
  'size'?: (number | string | Long);
  'crc32c'?: (number);
  'createdAtMs'?: (number | string | Long);
  'lastAccessMs'?: (number | string | Long);
  'ttlMs'?: (number | string | Long);
  'nodeId'?: (string);
}

export interface EntryInfo__Output {
  'key': (string);
  'jobId': (string);
  'checkpointIds': (number)[];
  'size': (number);
  'crc32c': (number);
  'createdAtMs': (number);
  'lastAccessMs': (number);
  'ttlMs': (number);
  'nodeId': (string);
}
