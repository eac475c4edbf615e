// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { EntryInfo as _checkpointcache_v1_EntryInfo, EntryInfo__Output as _checkpointcache_v1_EntryInfo__Output } from '../../checkpointcache/v1/EntryInfo';
import type { Long } from '@grpc/proto-loader';

export interface LeaseResponse {
  'entry'?: (_checkpointcache_v1_EntryInfo | null);
  'cacheRoot'?: (string);
  'relativePath'?: (string);
  'blockSize'?: (number);
  'blockCrc32c'?: (Buffer | Uint8Array | string);
  'expiresAtMs'?: (number | string | Long);
  'dataOffset'?: (number | string | Long);
}

export interface LeaseResponse__Output {
  'entry': (_checkpointcache_v1_EntryInfo__Output | null);
  'cacheRoot': (string);
  'relativePath': (string);
  'blockSize': (number);
  'blockCrc32c': (Buffer);
  'expiresAtMs': (number);
  'dataOffset': (number);
}
