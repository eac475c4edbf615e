// Original file: checkpointcache/v1/checkpoint_cache.proto


export interface ReportCorruptRequest {
  'key'?: (string);
  'entryCrc32c'?: (number);
  'observedCrc32c'?: (number);
}

export interface ReportCorruptRequest__Output {
  'key': (string);
  'entryCrc32c': (number);
  'observedCrc32c': (number);
}
