// Original file: checkpointcache/v1/checkpoint_cache.proto

import type { EntryInfo as _checkpointcache_v1_EntryInfo, EntryInfo__Output as _checkpointcache_v1_EntryInfo__Output } from '../../checkpointcache/v1/EntryInfo';

export interface WriteBatchResult {
  'code'?: (number);
  'message'?: (string);
  'entry'?: (_checkpointcache_v1_EntryInfo | null);
  'created'?: (boolean);
}

export interface WriteBatchResult__Output {
  'code': (number);
  'message': (string);
  'entry': (_checkpointcache_v1_EntryInfo__Output | null);
  'created': (boolean);
}
