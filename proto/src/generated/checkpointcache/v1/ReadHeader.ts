// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { EntryInfo as _checkpointcache_v1_EntryInfo, EntryInfo__Output as _checkpointcache_v1_EntryInfo__Output } from '../../checkpointcache/v1/EntryInfo';
import type { Source as _checkpointcache_v1_Source, Source__Output as _checkpointcache_v1_Source__Output } from '../../checkpointcache/v1/Source';
import type { Long } from '@grpc/proto-loader';

export interface ReadHeader {
  'entry'?: (_checkpointcache_v1_EntryInfo | null);
  'offset'?: (number | string | Long);
  'length'?: (number | string | Long);
  'source'?: (_checkpointcache_v1_Source);
}

export interface ReadHeader__Output {
  'entry': (_checkpointcache_v1_EntryInfo__Output | null);
  'offset': (number);
  'length': (number);
  'source': (_checkpointcache_v1_Source__Output);
}
