/**
 * The one small interface every remote store adapter implements (file, HTTP now; WebHDFS and S3
 * later). The client only reads from remote stores, and only after the node agent failed.
 * Owns: the contract of a ranged read. Never: retries or caching (callers decide both).
 */
import type { Readable } from 'node:stream';
import { crc32c } from '@checkpoint-cache/checksum';

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

/**
 * CRC32C of `length` bytes of `uri` from `offset`, read through `store` and kept nowhere. `track`
 * is handed the stream first, so the caller can destroy it if it gives up on the read.
 */
export async function remoteRangeCrc32c(
  store: RemoteStore,
  uri: string,
  offset: number,
  length: number,
  track: (stream: Readable) => void,
): Promise<number> {
  const stream = await store.open(uri, offset, length);
  track(stream);
  let crc = 0;
  let bytes = 0;
  for await (const data of stream as AsyncIterable<Buffer | string>) {
    const buffer = typeof data === 'string' ? Buffer.from(data) : data;
    crc = crc32c(buffer, crc);
    bytes += buffer.length;
  }
  if (bytes !== length) throw new Error(`it returned ${bytes} bytes, expected ${length}`);
  return crc;
}
