/**
 * Entry files on the node's disk:
 *   <root>/entries/<2 hex>/<id>       data
 *   <root>/entries/<2 hex>/<id>.meta  sidecar (see sidecar.ts)
 *   <root>/tmp/                       writes in flight; swept at start-up
 *   <root>/packs/                     small entries packed several to a file (pack-store.ts)
 * Owns: file layout, atomic publish (fsync + rename), crash-safe removal. Never: decisions about
 * which entries to keep (NodeCache does that) or metadata outside the sidecar.
 *
 * An entry exists exactly when its sidecar exists. Publish renames data first and the sidecar
 * last; removal unlinks the sidecar first and the data last. A crash in between leaves data
 * without a sidecar, which the start-up scan (entry-scan.ts) removes. Both files are fsynced before either is renamed, so
 * whichever renames a crash keeps, a sidecar never names bytes that are not on disk.
 * Finding every entry at start-up (and removing what a crash left) is entry-scan.ts's job.
 *
 * Small-file calls: a write opens its data file's and its sidecar's temp files, writes the
 * sidecar, closes both, renames them and opens the directory with synchronous calls, leaving only
 * fsyncs (which wait for the device) and large data writes (StagedWrite) to libuv's thread pool.
 * Each of those calls touches the page cache and the journal in memory, some microseconds; on the
 * thread pool each cost a hand-off, a wake-up and a promise, which is what 4 KiB writes spent
 * their time on (issue #16: ~14 pool calls per write, now 3).
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fsync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  promises as fs,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { promisify } from 'node:util';
import * as path from 'node:path';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import type { AdoptableFile } from './cache-types';
import { fsyncDir } from './fsync-dir';
import { PackStore, type PackPlace } from './pack-store';
import { decodeSidecar, encodeSidecar, sidecarProblem, type Sidecar } from './sidecar';

export const SIDECAR_SUFFIX = '.meta';
export const ID_PATTERN = /^[0-9a-f]{64}$/;
const fsyncFd = promisify(fsync);
function handOverGone(how: string): CacheError {
  return new CacheError(
    ErrorCode.FailedPrecondition,
    `the file named for hand-over was ${how} while the agent linked it; nothing was stored`,
  );
}

/** Why a hand-over file cannot be linked into tmp/ (DiskStore.linkTemp): copied instead. */
const NOT_LINKABLE = new Set(['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP']);

/**
 * A temp file and a descriptor on it (open for writing; read-only when linked by linkTemp); its
 * owner closes `fd` (StagedWrite).
 */
export interface TempFile {
  path: string;
  fd: number;
}

/** One entry's fsynced temp files, ready to be moved into place (DiskStore.publishAll). */
export interface Publishing {
  id: string;
  dataTemp: string;
  sidecarTemp: string;
}

export interface LoadedEntry {
  id: string;
  sidecar: Sidecar;
}

export class DiskStore {
  readonly entriesDir: string;
  readonly tmpDir: string;
  readonly packs: PackStore;
  /** Shard directories made (or found) by this process: publish needs no mkdir for them. */
  private readonly knownDirs = new Set<string>();
  /** Start times of sidecar rewrites under way (see changesSettledBefore). */
  private readonly rewrites = new Map<symbol, number>();
  /**
   * Temp names are this prefix and a counter: unique within the process without drawing random
   * bytes for each file (two per write), and apart from another process's by the prefix. `wx`
   * refuses a name that exists anyway.
   */
  private readonly tempPrefix = randomBytes(8).toString('hex');
  private tempCount = 0;

  constructor(readonly root: string) {
    this.entriesDir = path.join(root, 'entries');
    this.tmpDir = path.join(root, 'tmp');
    this.packs = new PackStore(root, this.tmpDir);
  }

  /** Creates the layout and removes writes left over by a previous process. */
  async init(): Promise<void> {
    await fs.mkdir(this.entriesDir, { recursive: true });
    await fs.rm(this.tmpDir, { recursive: true, force: true });
    await fs.mkdir(this.tmpDir, { recursive: true });
    this.packs.init();
  }

  /** The file holding the bytes of entry `id`: its own, or its pack (from `pack`). */
  fileOf(id: string, pack: PackPlace | undefined): string {
    return pack ? this.packs.path(pack.pack) : this.dataPath(id);
  }

  /** fileOf relative to the cache root (what same-node clients join with their mount point). */
  relativeFileOf(id: string, pack: PackPlace | undefined): string {
    return pack ? this.packs.relativePath(pack.pack) : this.relativeDataPath(id);
  }

  dataPath(id: string): string {
    if (!ID_PATTERN.test(id)) throw new Error(`not an entry id: ${id}`);
    return path.join(this.entriesDir, id.slice(0, 2), id);
  }

  /** dataPath relative to the cache root (what same-node clients join with their mount point). */
  relativeDataPath(id: string): string {
    return path.relative(this.root, this.dataPath(id));
  }

  sidecarPath(id: string): string {
    return this.dataPath(id) + SIDECAR_SUFFIX;
  }

  /** A new empty temp file (a synchronous open: see "Small-file calls" in the header). */
  createTemp(): TempFile {
    const file = this.tempPath('');
    return { path: file, fd: openSync(file, 'wx', 0o640) };
  }

  /**
   * A temp name for the file Ingest hands over, made by a hard link, with a read-only descriptor
   * on it (for its fsync): its bytes become the entry's without being copied. `notLinked`, the
   * errno code, when it cannot be linked here, for the caller to copy instead: EXDEV when the
   * file is on another file system or mount, EPERM when the kernel's protected_hardlinks refuses
   * a file the agent neither owns nor may write, EMLINK, ENOTSUP. The link is to whatever the name
   * stands for when linked, so its inode is compared with the one the caller checked, and a name
   * replaced meanwhile (by another file, a symbolic link, a FIFO) or removed is refused
   * (FAILED_PRECONDITION), its link removed.
   */
  linkTemp(source: AdoptableFile): TempFile | { notLinked: string } {
    const file = this.tempPath('');
    // Synchronous, as the other calls on names here: see "Small-file calls" in the header.
    try {
      linkSync(source.path, file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (NOT_LINKABLE.has(code)) return { notLinked: code };
      if (code === 'ENOENT' || code === 'ENOTDIR') throw handOverGone('removed');
      throw err;
    }
    // tmp/ is the agent's alone, so the link's name cannot change under it: what lstat finds is
    // what an open finds. Never opened unless it is the checked regular file (a FIFO swapped in
    // would block the open until someone wrote to it).
    const stats = lstatSync(file, { bigint: true });
    if (!stats.isFile() || stats.dev !== source.dev || stats.ino !== source.ino) {
      rmSync(file, { force: true });
      throw handOverGone('replaced by another');
    }
    try {
      const flags = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
      return { path: file, fd: openSync(file, flags) };
    } catch (err) {
      rmSync(file, { force: true });
      throw err;
    }
  }

  /**
   * Writes `sidecar` to a temp file and fsyncs it; publishAll moves it into place. Done for each
   * entry before it joins a group, so the group's own work is renames and directory fsyncs only.
   */
  async stageSidecar(sidecar: Sidecar): Promise<string> {
    const file = this.tempPath(SIDECAR_SUFFIX);
    const bytes = encodeSidecar(sidecar);
    // Synchronous open, write and close of a file of a few hundred bytes (page cache only): see
    // "Small-file calls" in the header. Only the fsync waits for the device, on the thread pool.
    const fd = openSync(file, 'wx', 0o640);
    try {
      for (let done = 0; done < bytes.length;) {
        done += writeSync(fd, bytes, done, bytes.length - done, done);
      }
      await fsyncFd(fd);
    } catch (err) {
      // A full disk fails the write after the open: the empty file would stay until a restart.
      closeSync(fd);
      rmSync(file, { force: true });
      throw err;
    }
    closeSync(fd);
    return file;
  }

  private tempPath(suffix: string): string {
    return path.join(this.tmpDir, `${this.tempPrefix}-${(this.tempCount++).toString(36)}${suffix}`);
  }

  /** Deletes a temp file of a write that will not be published. */
  async removeTemp(file: string): Promise<void> {
    await fs.rm(file, { force: true });
  }

  /**
   * Moves several entries' fsynced temp files into place (each entry's data first, its sidecar
   * last), then fsyncs each directory they went to once: the group commit of issue #16, where a
   * directory fsync per entry was one of three on every small write. Returns, per entry, undefined
   * when it is in place and durable, or the error that left it absent (its files removed, its
   * temp files too).
   */
  async publishAll(items: readonly Publishing[]): Promise<(Error | undefined)[]> {
    const results: (Error | undefined)[] = items.map(() => undefined);
    const byDir = new Map<string, number[]>();
    items.forEach((item, i) => {
      try {
        const dir = this.moveIntoPlace(item);
        const members = byDir.get(dir);
        if (members) members.push(i);
        else byDir.set(dir, [i]);
      } catch (err) {
        results[i] = err as Error;
      }
    });
    await Promise.all(
      [...byDir].map(async ([dir, members]) => {
        try {
          await fsyncDir(dir);
        } catch (err) {
          // Not known to be durable: not published. Removed now, so a crash cannot keep half.
          for (const i of members) {
            results[i] = err as Error;
            await this.remove(items[i].id);
          }
        }
      }),
    );
    return results;
  }

  /**
   * Renames one entry's temp files into place (synchronous: see "Small-file calls" in the header);
   * returns its directory, not yet fsynced.
   */
  private moveIntoPlace(item: Publishing): string {
    const dataPath = this.dataPath(item.id);
    const dir = path.dirname(dataPath);
    let dataMoved = false;
    try {
      this.renameIntoDir(item.dataTemp, dataPath, dir);
      dataMoved = true;
      renameSync(item.sidecarTemp, this.sidecarPath(item.id));
    } catch (err) {
      // Data without its sidecar is no entry; the start-up scan would remove it, but only at the next start.
      rmSync(item.sidecarTemp, { force: true });
      if (dataMoved) rmSync(dataPath, { force: true });
      throw err;
    }
    return dir;
  }

  /** renameSync, creating the shard directory the first time one is needed (one mkdir each). */
  private renameIntoDir(from: string, to: string, dir: string): void {
    if (!this.knownDirs.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.knownDirs.add(dir);
    }
    try {
      renameSync(from, to);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      // The shard directory went away under us (or `from` did: then the retry fails the same).
      this.knownDirs.delete(dir);
      mkdirSync(dir, { recursive: true });
      this.knownDirs.add(dir);
      renameSync(from, to);
    }
  }

  /** Atomically replaces an existing entry's sidecar (a packed one's: in its pack's log). */
  async rewriteSidecar(id: string, sidecar: Sidecar, pack?: PackPlace): Promise<void> {
    if (pack) return this.packs.rewrite(pack, sidecar);
    const token = Symbol(id);
    this.rewrites.set(token, Date.now());
    try {
      await this.rewriteSidecarFile(id, sidecar);
    } finally {
      this.rewrites.delete(token);
    }
  }

  /**
   * A time before which every sidecar rewrite that has returned began: now, or the start of the
   * oldest one still under way (its caller updates the index only after it returns). An index
   * snapshot taken now reflects every sidecar whose file time is before it.
   */
  changesSettledBefore(): number {
    let oldest = Date.now();
    for (const started of this.rewrites.values()) oldest = Math.min(oldest, started);
    return oldest;
  }

  private async rewriteSidecarFile(id: string, sidecar: Sidecar): Promise<void> {
    const sidecarTemp = await this.stageSidecar(sidecar);
    try {
      await fs.rename(sidecarTemp, this.sidecarPath(id));
    } catch (err) {
      await fs.rm(sidecarTemp, { force: true });
      throw err;
    }
    await fsyncDir(path.dirname(this.sidecarPath(id)));
  }

  async readSidecar(id: string): Promise<Sidecar | undefined> {
    const file = this.sidecarPath(id);
    let raw: Buffer;
    try {
      raw = await fs.readFile(file);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    return checkedSidecar(id, raw, file);
  }

  /**
   * Removes an entry (a packed one from its pack: `pack`, where it is and its size); readers that
   * already opened the data keep reading it (POSIX unlink; a pack stays while any of its entries
   * lives).
   */
  async remove(id: string, pack?: { place: PackPlace; size: number }): Promise<void> {
    if (pack) return this.packs.remove(pack.place, id, pack.size);
    await fs.rm(this.sidecarPath(id), { force: true });
    await fs.rm(this.dataPath(id), { force: true });
  }
}

/** The sidecar in `raw`, checked against the entry file `id` it sits beside. */
export function checkedSidecar(id: string, raw: Buffer, file: string): Sidecar {
  const sidecar = decodeSidecar(raw, file);
  const problem = sidecarProblem(id, sidecar);
  if (problem) throw new CacheError(ErrorCode.DataLoss, `sidecar ${file} is unusable: ${problem}`);
  return sidecar;
}

export function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
