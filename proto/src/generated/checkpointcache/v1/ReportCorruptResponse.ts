// Original file: checkpointcache/v1/checkpoint_cache.proto


export interface ReportCorruptResponse {
  'quarantined'?: (boolean);
}

export interface ReportCorruptResponse__Output {
  'quarantined': (boolean);
}
