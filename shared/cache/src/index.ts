/**
 * The node's cache domain: entries on local disk (DiskStore), their in-memory index, and the
 * NodeCache that combines them with a MetadataStore. Imports neither grpc nor a Redis client.
 */
export * from './metadata-store';
export * from './cache-types';
export * from './node-cache';
export { entryIdOf, validateKey, validateKeyPrefix, MAX_KEY_BYTES } from './entry-key';
export { DiskStore } from './disk-store';
export { PackStore, type PackPlace, type PackUsage } from './pack-store';
export type { WholeEntry, WholeOutcome } from './whole-writes';
export { HeldBytes } from './staged-write';
export { evictionCandidates, Leases } from './eviction';
export { decodeSidecar, encodeSidecar, SIDECAR_VERSION, type Sidecar } from './sidecar';
export type { CapacityLimits } from './capacity';
export {
  ClusterDelete,
  NOTICE_CLOCK_ALLOWANCE_MS,
  type ClusterDeleteOptions,
  type DeleteNotice,
  type DeleteNotices,
  type PrefixDeleteResult,
} from './cluster-delete';
export {
  PeerFill,
  type PeerChunk,
  type PeerFillObserver,
  type PeerFillOptions,
  type PeerFillResult,
  type PeerFillSink,
  type PeerLocation,
  type PeerStream,
  type Peers,
} from './peer-fill';
export { Reconciler, type ReconcileResult, type ReconcilerOptions } from './reconciler';
export { OpenFiles, DEFAULT_OPEN_FILES } from './open-files';
export { KeyedMutex } from './keyed-mutex';
export { READ_SPAN } from './verified-reader';
export { EntryTable } from './entry-table';
export { WriteBehind, WRITE_BEHIND_BYTES } from './write-behind';
export {
  ingestFile,
  INGEST_READ_BYTES,
  type Ingested,
  type IngestRequest,
  type IngestTarget,
} from './file-ingest';
