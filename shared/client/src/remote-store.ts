/**
 * The one small interface every remote store adapter implements (file, HTTP now; WebHDFS and S3
 * later). The client only reads from remote stores, and only after the node agent failed.
 * Owns: the contract of a ranged read. Never: retries or caching (callers decide both).
 */
import type { Readable } from 'node:stream';

/** What a remote store knows about an object without reading it. */
export interface RemoteStat {
  /** Size in bytes. */
  size: number;
}

export interface RemoteStore {
  /** URI schemes this store serves, lower case without the colon (`['http', 'https']`). */
  readonly schemes: readonly string[];

  /**
   * Opens `uri` for reading `length` bytes from `offset`, or up to the end when `length` is
   * absent. Resolves once the store has accepted the range, with a stream of Buffers that yields
   * exactly those bytes or fails: a stream that ends early or yields more is an error, never a
   * short read. Rejects with a `RemoteStoreError` (code `NOT_FOUND`, `RANGE_NOT_SATISFIABLE`, ...)
   * when the object or the range does not exist.
   */
  open(uri: string, offset: number, length?: number): Promise<Readable>;

  /** Size of the object at `uri`; rejects with `RemoteStoreError` code `NOT_FOUND` when absent. */
  stat(uri: string): Promise<RemoteStat>;
}
