/**
 * Remote store adapter for `file://` URIs and plain absolute paths: a shared file system mounted
 * on the node (NFS, a test directory) standing in for the DFS.
 * Owns: mapping a file URI to a path and checking the range against the file's size.
 */
import { open, stat } from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { expectLength } from './expect-length';
import type { RemoteStat, RemoteStore } from './remote-store';
import { RemoteStoreError } from './remote-store-error';

export class FileRemoteStore implements RemoteStore {
  readonly schemes = ['file'] as const;

  async open(uri: string, offset: number, length?: number): Promise<Readable> {
    const file = FileRemoteStore.toPath(uri);
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      throw fileError(err, file);
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new RemoteStoreError('IO', `${file} is not a regular file`);
      const size = info.size;
      if (offset > size || (length !== undefined && offset + length > size)) {
        const end = length === undefined ? 'the end' : `${offset + length}`;
        throw new RemoteStoreError(
          'RANGE_NOT_SATISFIABLE',
          `${file}: range ${offset}..${end} is outside the file (${size} bytes)`,
        );
      }
      const count = length ?? size - offset;
      if (count === 0) {
        await handle.close();
        return Readable.from([]);
      }
      // The handle is closed by the stream (autoClose), also when it is destroyed early.
      const stream = handle.createReadStream({ start: offset, end: offset + count - 1 });
      return expectLength(stream, count, file);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err instanceof RemoteStoreError ? err : fileError(err, file);
    }
  }

  async stat(uri: string): Promise<RemoteStat> {
    const file = FileRemoteStore.toPath(uri);
    try {
      const info = await stat(file);
      if (!info.isFile()) throw new RemoteStoreError('IO', `${file} is not a regular file`);
      return { size: info.size };
    } catch (err) {
      throw err instanceof RemoteStoreError ? err : fileError(err, file);
    }
  }

  /** The local path of a `file://` URI or an absolute path; anything else is an error. */
  static toPath(uri: string): string {
    if (uri.startsWith('file:')) {
      try {
        return fileURLToPath(uri);
      } catch (err) {
        throw new RemoteStoreError(
          'UNSUPPORTED_URI',
          `${uri} is not a local file URI (expected file:///absolute/path)`,
          { cause: err },
        );
      }
    }
    if (path.isAbsolute(uri)) return uri;
    throw new RemoteStoreError(
      'UNSUPPORTED_URI',
      `${uri} is neither a file:// URI nor an absolute path`,
    );
  }
}

function fileError(err: unknown, file: string): RemoteStoreError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new RemoteStoreError('NOT_FOUND', `${file} does not exist`, { cause: err });
  }
  return new RemoteStoreError('IO', `${file}: ${(err as Error).message}`, { cause: err });
}
