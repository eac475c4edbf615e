// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { Long } from '@grpc/proto-loader';

export interface ReadRequest {
  'key'?: (string);
  'offset'?: (number | string | Long);
  'length'?: (number | string | Long);
  'maxChunkSize'?: (number);
  '_length'?: "length";
}

export interface ReadRequest__Output {
  'key': (string);
  'offset': (number);
  'length'?: (number);
  'maxChunkSize': (number);
  '_length'?: "length";
}
