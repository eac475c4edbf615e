/**
 * The cache domain's public vocabulary: what NodeCache takes and returns, shared with the reader
 * and the service without importing NodeCache itself (so no module needs the facade to describe
 * an entry).
 * Owns: types and the constants of the contract. Never: behaviour.
 */
import type { EntryMetadata } from './metadata-store';

/** Bytes covered by one stored CRC32C in new entries unless configured (the agent's --block-size). */
export const DEFAULT_BLOCK_SIZE = 64 * 1024;
export const DEFAULT_PAGE_SIZE = 100;
export const DEFAULT_LEASE_MS = 60_000;
export const MAX_LEASE_MS = 3_600_000;
export const MAX_PAGE_SIZE = 1000;

/** Why an entry left the cache. */
export type RemovalReason = 'ttl' | 'lru' | 'release' | 'corruption' | 'delete';

export interface CacheObserver {
  entryRemoved(reason: RemovalReason, bytes: number): void;
}

export type EntryInfo = EntryMetadata & { nodeId: string };

export interface ReadRange {
  offset: number;
  /** Absent: to the end. */
  length?: number;
}

export interface WriteSpec {
  key: string;
  jobId: string;
  /** 0: no checkpoint. */
  checkpointId: number;
  size?: number;
  crc32c?: number;
  /** 0 or absent: the default TTL. */
  ttlMs?: number;
}

/** Free bytes a reader leaves in front of each disk read's bytes, for a message header. */
export const CHUNK_HEADROOM = 32;

/** A verified chunk of an entry. */
export interface VerifiedChunk {
  offset: number;
  data: Buffer;
  crc32c: number;
  /**
   * Bytes before `data` in its ArrayBuffer that belong to nobody else and may be overwritten
   * (CHUNK_HEADROOM for a chunk that starts a disk read, else 0).
   */
  headroom: number;
  /** When set, call it once `data` is no longer needed (written to the socket): reuses it. */
  release?: (() => void) | undefined;
}

export interface EntryReader {
  readonly entry: EntryInfo;
  readonly offset: number;
  readonly length: number;
  /**
   * Verified chunks of at most `maxChunkSize` bytes covering the range, in order. Throws
   * CacheError(DataLoss) on a checksum mismatch (after deleting the entry).
   */
  chunks(maxChunkSize: number): AsyncIterable<VerifiedChunk>;
  close(): Promise<void>;
}

export interface EntryWriter {
  /**
   * Appends bytes; `offset` must equal the bytes written so far; `crc32c` is checked if given.
   * The bytes may reach the file after the promise resolves: `data` must not change until
   * commit or abort has settled.
   */
  append(offset: number, data: Buffer, crc32c?: number): Promise<void>;
  /** Verifies, publishes and registers the entry. */
  commit(): Promise<{ entry: EntryInfo; created: boolean }>;
  /** Discards everything written; safe to call more than once and after commit. */
  abort(): Promise<void>;
  /**
   * Only for a write begun with a file to adopt: 'linked' when the entry's file is a link to it
   * (`append` then checks the bytes it is given and writes none), else why it could not be
   * linked (an errno code such as EXDEV) and the bytes are copied as for any write.
   */
  readonly adoption?: string;
}

/**
 * A file Ingest hands over to the cache (see DiskStore.linkTemp): its path and the device and
 * inode its open descriptor was checked on, so that a name replaced meanwhile is not adopted.
 */
export interface AdoptableFile {
  path: string;
  dev: bigint;
  ino: bigint;
}

/** What a same-node client needs to read and verify an entry's file itself. */
export interface EntryLease {
  entry: EntryInfo;
  cacheRoot: string;
  relativePath: string;
  /** Where the entry's bytes start in that file (0 unless it shares a pack with others). */
  fileOffset: number;
  blockSize: number;
  blockCrcs: Uint32Array;
  expiresAtMs: number;
}

export interface ListQuery {
  jobId?: string;
  checkpointId?: number;
  pageSize?: number;
  pageToken?: string;
}

export type IndexState = 'loading' | 'ready' | 'failed';
