// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { Long } from '@grpc/proto-loader';

export interface ListRequest {
  'jobId'?: (string);
  'checkpointId'?: (number | string | Long);
  'pageSize'?: (number);
  'pageToken'?: (string);
  '_checkpointId'?: "checkpointId";
}

export interface ListRequest__Output {
  'jobId': (string);
  'checkpointId'?: (number);
  'pageSize': (number);
  'pageToken': (string);
  '_checkpointId'?: "checkpointId";
}
