/**
 * A local file's copy for the agent to take over (Ingest with hand_over): written once into the
 * agent's ingest directory under a fresh name, its CRC32C computed as the bytes pass, never
 * written again. The agent links that copy into the cache where it can, so the file's bytes are
 * written to disk once, as `dd` writes them (docs/benchmarks.md, "Built: hand-over").
 * Owns: the copy's name, creating it (exclusively, mode 0640: the agent reads it through its
 * group) and the copy loop. Never: the Ingest call, removing the copy (the caller does, once
 * answered).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { crc32c } from '@checkpoint-cache/checksum';

/** Bytes per read and write; two buffers take turns, the next read in flight during a write. */
const COPY_BYTES = 1024 * 1024;

/**
 * The copy could not be made in the ingest directory (missing, not writable, full): the caller
 * may store the file another way. Errors reading the source are thrown as they are.
 */
export class IngestDirError extends Error {
  constructor(
    readonly dir: string,
    override readonly cause: unknown,
  ) {
    super(`cannot write a copy in ${dir}: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'IngestDirError';
  }
}

export interface HandOverCopy {
  /** The copy's name in the directory, what Ingest is given. */
  name: string;
  path: string;
  size: number;
  crc32c: number;
}

/**
 * Copies `source` into `dir` as `ckc-put-<random>.spool`; on failure nothing of the copy is left.
 * `onBytes` is told of every chunk written. The copy's failures are IngestDirError.
 */
export async function copyForHandOver(
  source: string,
  dir: string,
  onBytes?: (bytes: number) => void,
): Promise<HandOverCopy> {
  const name = `ckc-put-${randomBytes(8).toString('hex')}.spool`;
  const target = path.join(dir, name);
  const from = await fs.open(source, 'r');
  try {
    const to = await fs.open(target, 'wx', 0o640).catch((err: unknown) => {
      throw new IngestDirError(dir, err);
    });
    try {
      // The mode the agent requires, whatever the umask took from it at the open.
      await to.chmod(0o640).catch((err: unknown) => {
        throw new IngestDirError(dir, err);
      });
      const { size, crc } = await copyLoop(from, to, dir, onBytes);
      await to.close().catch((err: unknown) => {
        throw new IngestDirError(dir, err);
      });
      return { name, path: target, size, crc32c: crc };
    } catch (err) {
      await to.close().catch(() => undefined);
      await fs.rm(target, { force: true });
      throw err;
    }
  } finally {
    await from.close();
  }
}

async function copyLoop(
  from: fs.FileHandle,
  to: fs.FileHandle,
  dir: string,
  onBytes: ((bytes: number) => void) | undefined,
): Promise<{ size: number; crc: number }> {
  const buffers = [Buffer.allocUnsafeSlow(COPY_BYTES), Buffer.allocUnsafeSlow(COPY_BYTES)];
  const readInto = async (buffer: Buffer, position: number): Promise<number> => {
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await from.read(buffer, filled, buffer.length - filled, position);
      if (bytesRead === 0) break;
      filled += bytesRead;
      position += bytesRead;
    }
    return filled;
  };
  let size = 0;
  let crc = 0;
  let next = readInto(buffers[0]!, 0);
  for (let turn = 0; ; turn++) {
    const n = await next;
    if (n === 0) break;
    const buffer = buffers[turn % 2]!;
    size += n;
    next = readInto(buffers[(turn + 1) % 2]!, size);
    next.catch(() => undefined); // reported by the next await; never left unhandled meanwhile
    crc = crc32c(buffer.subarray(0, n), crc);
    try {
      for (let done = 0; done < n;) {
        done += (await to.write(buffer, done, n - done)).bytesWritten;
      }
    } catch (err) {
      await next.catch(() => undefined); // the source closes after this returns
      throw new IngestDirError(dir, err);
    }
    onBytes?.(n);
  }
  return { size, crc };
}
