// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { EntryInfo as _checkpointcache_v1_EntryInfo, EntryInfo__Output as _checkpointcache_v1_EntryInfo__Output } from '../../checkpointcache/v1/EntryInfo';

export interface ListResponse {
  'entries'?: (_checkpointcache_v1_EntryInfo)[];
  'nextPageToken'?: (string);
}

export interface ListResponse__Output {
  'entries': (_checkpointcache_v1_EntryInfo__Output)[];
  'nextPageToken': (string);
}
