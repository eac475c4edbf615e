/**
 * @checkpoint-cache/client: the TypeScript client stub of the node agent and the remote store
 * adapters its reads fall back to.
 * Owns: the client's public API. Never: test helpers, process start-up, process.env.
 */
export {
  CheckpointCacheClient,
  type EntryInfo,
  type ListOptions,
  type ListPage,
  type ReadOptions,
  type ReleaseResult,
} from './checkpoint-cache-client';
export { CheckpointReadStream, type FallbackEvent } from './checkpoint-read-stream';
export { CheckpointCacheError, isCheckpointCacheError, statusName } from './checkpoint-cache-error';
export {
  DEFAULT_CHANNEL_OPTIONS,
  DEFAULT_DEADLINES,
  DEFAULT_WRITE_CHUNK_SIZE,
  MAX_CHUNK_SIZE,
  normalizeAgentAddress,
  type CheckpointCacheClientOptions,
  type ClientDeadlines,
} from './client-options';
export type { ClientStatsSnapshot } from './client-stats';
export type { WriteOptions, WriteResult } from './entry-upload';
export {
  MAX_BATCH_BYTES,
  MAX_BATCH_ITEMS,
  type BatchEntry,
  type BatchEntryResult,
} from './entry-batch';
export { copyForHandOver, IngestDirError, type HandOverCopy } from './hand-over';
export { installZeroCopyWrites, zeroCopyWritesInstalled } from './write-wire';
export {
  FALLBACK_STATUSES,
  LOCAL_READ_FAULTS,
  statusOfFault,
  type FallbackReason,
  type LocalReadFault,
  type StatusName,
} from './fallback-policy';
export { checkChunk, headerProblem, type ChunkCheck } from './read-checks';
export type { RemoteStat, RemoteStore } from './remote-store';
export {
  isRemoteStoreError,
  redactUri,
  RemoteStoreError,
  type RemoteStoreErrorCode,
} from './remote-store-error';
export { RemoteStores } from './remote-stores';
export { FileRemoteStore } from './file-remote-store';
export { HttpRemoteStore, type HttpRemoteStoreOptions } from './http-remote-store';
/** For showing `EntryInfo.crc32c` the way the rest of the project does. */
export { formatCrc32c } from '@checkpoint-cache/checksum';
