// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { Long } from '@grpc/proto-loader';

export interface ReleaseRequest {
  'jobId'?: (string);
  'belowCheckpointId'?: (number | string | Long);
  '_belowCheckpointId'?: "belowCheckpointId";
}

export interface ReleaseRequest__Output {
  'jobId': (string);
  'belowCheckpointId'?: (number);
  '_belowCheckpointId'?: "belowCheckpointId";
}
