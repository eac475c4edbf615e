// Original file: checkpointcache/v1/checkpoint_cache.proto


export interface DeleteRequest {
  'key'?: (string);
}

export interface DeleteRequest__Output {
  'key': (string);
}
