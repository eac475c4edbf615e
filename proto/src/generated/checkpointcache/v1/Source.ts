// Original file: checkpointcache/v1/checkpoint_cache.proto

export const Source = {
  SOURCE_UNSPECIFIED: 'SOURCE_UNSPECIFIED',
  SOURCE_LOCAL_DISK: 'SOURCE_LOCAL_DISK',
  SOURCE_PEER: 'SOURCE_PEER',
} as const;

export type Source =
  | 'SOURCE_UNSPECIFIED'
  | 0
  | 'SOURCE_LOCAL_DISK'
  | 1
  | 'SOURCE_PEER'
  | 2

export type Source__Output = typeof Source[keyof typeof Source]
