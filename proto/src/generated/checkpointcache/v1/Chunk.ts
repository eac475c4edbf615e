// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { Long } from '@grpc/proto-loader';

export interface Chunk {
  'offset'?: (number | string | Long);
  'data'?: (Buffer | Uint8Array | string);
  'crc32c'?: (number);
  '_crc32c'?: "crc32c";
}

export interface Chunk__Output {
  'offset': (number);
  'data': (Buffer);
  'crc32c'?: (number);
  '_crc32c'?: "crc32c";
}
