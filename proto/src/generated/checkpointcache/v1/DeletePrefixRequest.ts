// Original file: checkpointcache/v1/checkpoint_cache.proto


export interface DeletePrefixRequest {
  'prefix'?: (string);
}

export interface DeletePrefixRequest__Output {
  'prefix': (string);
}
