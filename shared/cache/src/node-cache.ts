import type { Logger } from '@checkpoint-cache/logger';
import type { EntryMetadata, MetadataStore } from './metadata-store';

export interface NodeCacheOptions {
  /** Cache root: holds entries/, tmp/. */
  root: string;
  nodeId: string;
  metadata: MetadataStore;
  /** TTL of entries written without one. */
  defaultTtlMs: number;
  logger?: Logger;
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
  checkpointId: number;
  size?: number;
  crc32c?: number;
  /** 0 or absent: the default TTL. */
  ttlMs?: number;
}

/** A verified chunk of an entry. */
export interface VerifiedChunk {
  offset: number;
  data: Buffer;
  crc32c: number;
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
  /** Appends bytes; `offset` must equal the bytes written so far; `crc32c` is checked if given. */
  append(offset: number, data: Buffer, crc32c?: number): Promise<void>;
  /** Verifies, publishes and registers the entry. */
  commit(): Promise<{ entry: EntryInfo; created: boolean }>;
  /** Discards everything written; safe to call more than once and after commit. */
  abort(): Promise<void>;
}

export interface ListQuery {
  jobId?: string;
  checkpointId?: number;
  pageSize?: number;
  pageToken?: string;
}

export class NodeCache {
  private constructor(readonly options: NodeCacheOptions) {}

  static async open(options: NodeCacheOptions): Promise<NodeCache> {
    return new NodeCache(options);
  }

  async openRead(_key: string, _range: ReadRange): Promise<EntryReader> {
    throw new Error('not implemented');
  }

  async beginWrite(_spec: WriteSpec): Promise<EntryWriter> {
    throw new Error('not implemented');
  }

  async stat(_key: string, _options: { touch: boolean }): Promise<EntryInfo> {
    throw new Error('not implemented');
  }

  async touch(_key: string, _options: { checkpointId?: number; ttlMs?: number }): Promise<EntryInfo> {
    throw new Error('not implemented');
  }

  async delete(_key: string): Promise<boolean> {
    throw new Error('not implemented');
  }

  async list(_query: ListQuery): Promise<{ entries: EntryInfo[]; nextPageToken: string }> {
    throw new Error('not implemented');
  }

  async release(_spec: { jobId: string; belowCheckpointId?: number }): Promise<{ entries: number; bytes: number }> {
    throw new Error('not implemented');
  }

  async close(): Promise<void> {}
}
