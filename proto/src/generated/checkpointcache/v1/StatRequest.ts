// Original file: checkpointcache/v1/checkpoint_cache.proto


export interface StatRequest {
  'key'?: (string);
  'noTouch'?: (boolean);
}

export interface StatRequest__Output {
  'key': (string);
  'noTouch': (boolean);
}
