// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { EntryInfo as _checkpointcache_v1_EntryInfo, EntryInfo__Output as _checkpointcache_v1_EntryInfo__Output } from '../../checkpointcache/v1/EntryInfo';

export interface WriteResponse {
  'entry'?: (_checkpointcache_v1_EntryInfo | null);
  'created'?: (boolean);
}

export interface WriteResponse__Output {
  'entry': (_checkpointcache_v1_EntryInfo__Output | null);
  'created': (boolean);
}
