/**
 * Ingest: a write by file name, for a client on this node that already has an entry's bytes in a
 * file (the Flink plugin's spool file). The client puts the file in the agent's ingest directory
 * and names it; the agent copies it into the cache through the same staged write as a streamed
 * Write (tmp/, size and CRC32C checked, fsync, rename, then Redis). One process copies with
 * positional reads instead of two processes streaming gRPC messages: measured at a third of the
 * Write's CPU and 0.26-0.58 x `dd` where the Write stood at 0.27-0.28 x (docs/benchmarks.md,
 * "Built: `Ingest`").
 *
 * Hand-over (`handOver`): a caller that will not write the file again gives it to the cache, and
 * the entry's file becomes a hard link to it (DiskStore.linkTemp) instead of a copy: the bytes are
 * read once for their CRC32Cs and checks, fsynced, and never written a second time, as `dd`
 * writes them once. Where the link cannot be made (another mount, protected_hardlinks) the file
 * is copied as without it. A caller that writes the file afterwards all the same changes the
 * entry's bytes under its block CRC32Cs: reads then fail with DATA_LOSS, never serve them.
 *
 * The name comes from a client, so it is confined: one path component, opened without following
 * a symbolic link, and only a regular file with one link is copied (a hard link would let a client
 * that may write the directory name any file on that file system the agent can read) that grants
 * read permission beyond its owner (a file moved in that its owner shares with nobody is not). The
 * caller's size and CRC32C are required and checked against the bytes copied, so a file changed
 * while it was copied is refused.
 * Owns: the name's checks, opening the file, the copy loop (for a hand-over, the pass that checks
 * the bytes). Never: deleting, renaming or writing the source file (the caller owns its name),
 * making the link (DiskStore), who may call (the service decides: its Unix socket only).
 */
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CacheError, ErrorCode, isCacheError } from '@checkpoint-cache/errors';
import type { AdoptableFile, EntryInfo, EntryWriter, WriteSpec } from './cache-types';

/**
 * Bytes per positional read (the next one in flight while a chunk is handed over); 1 and 4 MiB
 * measured alike.
 */
export const INGEST_READ_BYTES = 1024 * 1024;

/** NAME_MAX of Linux file systems. */
const MAX_NAME_BYTES = 255;

/** What Ingest needs of the cache: the streamed Write's writer. */
export interface IngestTarget {
  beginWrite(spec: WriteSpec, adopt?: AdoptableFile): Promise<EntryWriter>;
}

export interface IngestRequest {
  /** The ingest directory, as configured (the agent checked at start that it is a directory). */
  dir: string;
  /** One path component inside `dir`. */
  fileName: string;
  /** As for Write; size and crc32c must be set. */
  spec: WriteSpec;
  /** Aborted when the caller gave up (cancelled, deadline): the copy stops, nothing is stored. */
  signal?: AbortSignal;
  /** The caller gives the file to the cache: link it rather than copy it where possible. */
  handOver?: boolean;
}

export interface Ingested {
  entry: EntryInfo;
  created: boolean;
  /** 'linked' when handed over by a link; else 'copied', or why a hand-over was copied instead. */
  how: string;
}

/**
 * Stores `request.fileName` in the cache as `request.spec.key`, by a copy or (hand-over) a link;
 * the file's bytes and its name are left as they were.
 */
export async function ingestFile(cache: IngestTarget, request: IngestRequest): Promise<Ingested> {
  const { dir, fileName, spec, signal } = request;
  checkFileName(fileName);
  const size = spec.size;
  if (size === undefined || spec.crc32c === undefined) {
    throw new CacheError(
      ErrorCode.InvalidArgument,
      "Ingest needs the header's size and crc32c: they are how the agent knows the file did " +
        'not change while it was copied',
    );
  }
  const shown = JSON.stringify(fileName);
  const source = path.join(dir, fileName);
  const file = await openSource(source, dir, shown);
  try {
    const stat = await file.stat({ bigint: true });
    if (!stat.isFile()) {
      throw new CacheError(
        ErrorCode.FailedPrecondition,
        `${shown} in the ingest directory is not a regular file; nothing was stored`,
      );
    }
    if (stat.nlink === 0n) {
      throw new CacheError(
        ErrorCode.FailedPrecondition,
        `${shown} was removed from the ingest directory while the agent opened it; nothing was stored`,
      );
    }
    if (stat.nlink !== 1n) {
      throw new CacheError(
        ErrorCode.FailedPrecondition,
        `${shown} in the ingest directory has ${stat.nlink} links; Ingest copies only a file with ` +
          'one link (a hard link could name a file outside the directory); nothing was stored',
      );
    }
    // A file moved in from elsewhere would pass the link check; one its owner shares with nobody
    // is not meant for the cache, whatever the agent itself may read (as root it reads all).
    if ((stat.mode & 0o044n) === 0n) {
      throw new CacheError(
        ErrorCode.FailedPrecondition,
        `${shown} in the ingest directory is readable by its owner only; Ingest copies files that ` +
          'grant read permission to their group (the Flink plugin writes 0640); nothing was stored',
      );
    }
    // Neither this message nor the one below says the file's real size or CRC32C: a caller who
    // may name a file but not read it must not learn them (and then store it under a key).
    if (stat.size !== BigInt(size)) {
      throw new CacheError(
        ErrorCode.FailedPrecondition,
        `${shown} does not have the ${size} bytes the header announced; nothing was stored`,
      );
    }
    if (signal?.aborted) throw gaveUp(shown);
    const adopt = request.handOver ? { path: source, dev: stat.dev, ino: stat.ino } : undefined;
    const writer = await cache.beginWrite(spec, adopt);
    try {
      await copyInto(writer, file, size, shown, signal, writer.adoption === 'linked');
      const stored = await commitQuietly(writer, shown);
      return { ...stored, how: writer.adoption ?? 'copied' };
    } finally {
      await writer.abort();
    }
  } finally {
    await file.close();
  }
}

/** The writer's commit, its size or CRC32C refusal reworded so that it states neither value. */
async function commitQuietly(
  writer: EntryWriter,
  shown: string,
): Promise<{ entry: EntryInfo; created: boolean }> {
  try {
    return await writer.commit();
  } catch (err) {
    if (!isCacheError(err) || err.code !== ErrorCode.FailedPrecondition) throw err;
    throw new CacheError(
      ErrorCode.FailedPrecondition,
      `the bytes of ${shown} do not have the size and CRC32C the header announced (or the ` +
        'file changed while it was copied); nothing was stored',
    );
  }
}

function checkFileName(name: string): void {
  const bytes = Buffer.byteLength(name);
  if (
    bytes === 0 ||
    bytes > MAX_NAME_BYTES ||
    name === '.' ||
    name === '..' ||
    name.includes('/') ||
    name.includes('\0')
  ) {
    throw new CacheError(
      ErrorCode.InvalidArgument,
      `file_name ${JSON.stringify(name)} must be the name of one file in the agent's ingest ` +
        "directory: 1-255 bytes, without '/' or NUL, not '.' or '..'",
    );
  }
}

async function openSource(source: string, dir: string, shown: string): Promise<fs.FileHandle> {
  // O_NONBLOCK: opening a FIFO someone left there returns at once (and is refused as not a
  // regular file) instead of waiting for a writer.
  const flags =
    constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
  try {
    return await fs.open(source, flags);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const dirThere = await fs.stat(dir).then(
        (s) => s.isDirectory(),
        () => false,
      );
      if (!dirThere) {
        throw new CacheError(
          ErrorCode.FailedPrecondition,
          `the agent's ingest directory ${dir} is gone; the operator must restore it (or ` +
            'restart the agent without --ingest-dir)',
        );
      }
      throw new CacheError(
        ErrorCode.NotFound,
        `no file ${shown} in the ingest directory ${dir}; write the file there before calling Ingest`,
      );
    }
    // A Unix socket (ENXIO) or a device without a driver (ENODEV) by that name.
    if (code === 'ENXIO' || code === 'ENODEV') {
      throw new CacheError(
        ErrorCode.FailedPrecondition,
        `${shown} in the ingest directory is not a regular file; nothing was stored`,
      );
    }
    if (code === 'EMFILE' || code === 'ENFILE') {
      throw new CacheError(
        ErrorCode.ResourceExhausted,
        `the agent has no file descriptor left to open ${shown}; try again later`,
      );
    }
    if (code === 'ELOOP') {
      throw new CacheError(
        ErrorCode.InvalidArgument,
        `${shown} in the ingest directory is a symbolic link; Ingest copies regular files only`,
      );
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new CacheError(
        ErrorCode.PermissionDenied,
        `the agent may not read ${shown} in the ingest directory ${dir}: give its user or group ` +
          'read permission on the file (and search permission on the directory)',
      );
    }
    throw err;
  }
}

/**
 * Reads the file in order, each chunk into its own buffer (the writer may hold it until commit),
 * the next read in flight while a chunk is handed over. A linked writer only checks the bytes and
 * keeps none: two buffers then take turns (fresh ones cost a page fault per 4 KiB).
 */
async function copyInto(
  writer: EntryWriter,
  file: fs.FileHandle,
  size: number,
  shown: string,
  signal: AbortSignal | undefined,
  checkOnly: boolean,
): Promise<void> {
  const turns = checkOnly
    ? [0, 1].map(() => Buffer.allocUnsafeSlow(Math.min(INGEST_READ_BYTES, size)))
    : undefined;
  let reads = 0;
  const readAt = async (offset: number): Promise<Buffer> => {
    const length = Math.min(INGEST_READ_BYTES, size - offset);
    const data = turns ? turns[reads++ % 2]!.subarray(0, length) : Buffer.allocUnsafeSlow(length);
    let filled = 0;
    while (filled < data.length) {
      const { bytesRead } = await file.read(data, filled, data.length - filled, offset + filled);
      if (bytesRead === 0) throw changed(shown);
      filled += bytesRead;
    }
    return data;
  };
  let offset = 0;
  let next = size > 0 ? readAt(0) : undefined;
  while (next) {
    const data = await next;
    if (signal?.aborted) throw gaveUp(shown);
    const following = offset + data.length;
    next = following < size ? readAt(following) : undefined;
    // A failed read ahead is reported by the next await; never left unhandled meanwhile.
    next?.catch(() => undefined);
    try {
      await writer.append(offset, data);
    } catch (err) {
      await next?.catch(() => undefined); // the file closes after this returns
      throw err;
    }
    offset = following;
  }
  const { bytesRead } = await file.read(Buffer.alloc(1), 0, 1, size);
  if (bytesRead !== 0) throw changed(shown);
  if (signal?.aborted) throw gaveUp(shown);
}

function gaveUp(shown: string): CacheError {
  return new CacheError(
    ErrorCode.Cancelled,
    `the client gave up on the Ingest of ${shown} (cancelled or past its deadline); nothing was stored`,
  );
}

function changed(shown: string): CacheError {
  return new CacheError(
    ErrorCode.FailedPrecondition,
    `${shown} changed size while it was copied; nothing was stored. Ingest a file only once it ` +
      'is complete and closed',
  );
}
