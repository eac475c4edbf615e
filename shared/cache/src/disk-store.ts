/**
 * Entry files on the node's disk:
 *   <root>/entries/<2 hex>/<id>       data
 *   <root>/entries/<2 hex>/<id>.meta  sidecar (see sidecar.ts)
 *   <root>/tmp/                       writes in flight; swept at start-up
 * Owns: file layout, atomic publish (fsync + rename), crash-safe removal. Never: decisions about
 * which entries to keep (NodeCache does that) or metadata outside the sidecar.
 *
 * An entry exists exactly when its sidecar exists. Publish renames data first and the sidecar
 * last; removal unlinks the sidecar first and the data last. A crash in between leaves data
 * without a sidecar, which loadAll() removes. Both files are fsynced before either is renamed, so
 * whichever renames a crash keeps, a sidecar never names bytes that are not on disk.
 *
 * Small-file calls: publishing opens, writes and closes the sidecar's temp file, renames both
 * files and opens the directory with synchronous calls, leaving only fsyncs (which wait for the
 * device) to libuv's thread pool. Each of those calls touches the page cache and the journal in
 * memory, some microseconds; on the thread pool each cost a hand-off, a wake-up and a promise,
 * which is what 4 KiB writes spent their time on (issue #16: ~14 pool calls per write).
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsync,
  mkdirSync,
  openSync,
  promises as fs,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  type Stats,
  writeSync,
} from 'node:fs';
import { promisify } from 'node:util';
import * as path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { CacheError, ErrorCode } from '@checkpoint-cache/errors';
import { decodeSidecar, encodeSidecar, sidecarProblem, type Sidecar } from './sidecar';

const SIDECAR_SUFFIX = '.meta';
const ID_PATTERN = /^[0-9a-f]{64}$/;
const fsyncFd = promisify(fsync);
/** Longest stretch the index load keeps the event loop (see loadAll). */
const LOAD_SLICE_MS = 10;
/**
 * A file time this close to a snapshot's time or later counts as changed after it: file times
 * come from a coarse kernel clock (and some file systems keep whole seconds only).
 */
const FILE_TIME_SLACK_MS = 2_000;

export interface TempFile {
  path: string;
  handle: fs.FileHandle;
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

/** Entries an index snapshot says were on disk at `takenAtMs` (see index-snapshot.ts). */
export interface KnownEntries {
  readonly takenAtMs: number;
  /** The next known entry of `shard` (2 hex), in any order; undefined when there are no more. */
  nextOfShard(shard: string): (LoadedEntry & { lastAccessMs: number }) | undefined;
}

export interface LoadCounts {
  loaded: number;
  /** Of `loaded`, taken from the snapshot without reading their sidecars. */
  known: number;
  problems: LoadProblem[];
}

export interface LoadProblem {
  file: string;
  error: unknown;
}

export class DiskStore {
  readonly entriesDir: string;
  readonly tmpDir: string;
  /** Shard directories made (or found) by this process: publish needs no mkdir for them. */
  private readonly knownDirs = new Set<string>();
  /** Start times of sidecar rewrites under way (see changesSettledBefore). */
  private readonly rewrites = new Map<symbol, number>();

  constructor(readonly root: string) {
    this.entriesDir = path.join(root, 'entries');
    this.tmpDir = path.join(root, 'tmp');
  }

  /** Creates the layout and removes writes left over by a previous process. */
  async init(): Promise<void> {
    await fs.mkdir(this.entriesDir, { recursive: true });
    await fs.rm(this.tmpDir, { recursive: true, force: true });
    await fs.mkdir(this.tmpDir, { recursive: true });
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

  async createTemp(): Promise<TempFile> {
    const file = path.join(this.tmpDir, randomBytes(12).toString('hex'));
    const handle = await fs.open(file, 'wx', 0o640);
    return { path: file, handle };
  }

  /**
   * Writes `sidecar` to a temp file and fsyncs it; publishAll moves it into place. Done for each
   * entry before it joins a group, so the group's own work is renames and directory fsyncs only.
   */
  async stageSidecar(sidecar: Sidecar): Promise<string> {
    const file = path.join(this.tmpDir, randomBytes(12).toString('hex') + SIDECAR_SUFFIX);
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
      // Data without its sidecar is no entry; loadAll would remove it, but only at the next start.
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

  /** Atomically replaces an existing entry's sidecar. */
  async rewriteSidecar(id: string, sidecar: Sidecar): Promise<void> {
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

  /** Removes an entry; readers that already opened the data keep reading it (POSIX unlink). */
  async remove(id: string): Promise<void> {
    await fs.rm(this.sidecarPath(id), { force: true });
    await fs.rm(this.dataPath(id), { force: true });
  }

  /**
   * Finds every entry, handing each good one to `onEntry` as soon as it is found. Data files
   * without a sidecar (an interrupted publish or removal) are deleted; unreadable sidecars are
   * deleted with their data and reported.
   *
   * With `known` (an index snapshot), an entry the snapshot lists is taken from it without reading
   * its sidecar when both its files are in the directory listing and neither can have changed
   * since the snapshot: its shard directory has not changed since (a publish, rewrite or removal
   * renames or unlinks in it), or else its sidecar's own times are older. Anything else (not in
   * the snapshot, a newer sidecar) is read the slow way; a snapshot entry whose files are gone is
   * dropped. Data sizes are not checked on that path: a read checks every block anyway.
   *
   * Sidecars are read and data files stat'ed with synchronous calls, in slices of at most
   * LOAD_SLICE_MS with a yield to the event loop between them: a promise per file costs more than
   * the read of a small file from the page cache (about 1 ms per entry before, issue #16), and
   * the slices keep reads served while the index loads.
   */
  async loadAll(
    onEntry: (entry: LoadedEntry & { lastAccessMs?: number }) => void,
    known?: KnownEntries,
  ): Promise<LoadCounts> {
    const counts: LoadCounts = { loaded: 0, known: 0, problems: [] };
    let sliceStart = performance.now();
    let sinceCheck = 0;
    /** A promise to await when the slice is over, else undefined (no await: no microtask turn). */
    const pause = (): Promise<void> | undefined => {
      // The clock is read every 32 files: a snapshot record costs less than reading it.
      if (++sinceCheck < 32) return undefined;
      sinceCheck = 0;
      if (performance.now() - sliceStart <= LOAD_SLICE_MS) return undefined;
      return yieldToEventLoop().then(() => {
        sliceStart = performance.now();
      });
    };
    const shards = (await fs.readdir(this.entriesDir)).sort();
    for (const shard of shards) {
      const dir = path.join(this.entriesDir, shard);
      const names = new Set(await fs.readdir(dir).catch(() => [] as string[]));
      if (known) {
        const before = known.takenAtMs - FILE_TIME_SLACK_MS;
        const quiet = olderThan(statSync(dir, { throwIfNoEntry: false }), before);
        for (let entry = known.nextOfShard(shard); entry; entry = known.nextOfShard(shard)) {
          const paused = pause();
          if (paused) await paused;
          const meta = entry.id + SIDECAR_SUFFIX;
          if (!names.has(meta) || !names.has(entry.id)) continue;
          if (
            !quiet &&
            !olderThan(statSync(path.join(dir, meta), { throwIfNoEntry: false }), before)
          ) {
            continue;
          }
          names.delete(meta);
          names.delete(entry.id);
          onEntry(entry);
          counts.loaded++;
          counts.known++;
        }
      }
      for (const name of names) {
        const paused = pause();
        if (paused) await paused;
        const id = name.endsWith(SIDECAR_SUFFIX) ? name.slice(0, -SIDECAR_SUFFIX.length) : name;
        if (!ID_PATTERN.test(id)) {
          counts.problems.push({
            file: path.join(dir, name),
            error: new Error('not an entry file'),
          });
          continue;
        }
        if (name === id) {
          if (!names.has(id + SIDECAR_SUFFIX)) await fs.rm(path.join(dir, name), { force: true });
          continue;
        }
        const file = path.join(dir, name);
        try {
          const sidecar = checkedSidecar(id, readFileSync(file), file);
          const size = statSync(path.join(dir, id)).size;
          if (size === sidecar.size) {
            onEntry({ id, sidecar });
            counts.loaded++;
            continue;
          }
          counts.problems.push({
            file,
            error: new Error(`data is ${size} bytes, sidecar says ${sidecar.size}`),
          });
        } catch (error) {
          counts.problems.push({ file, error });
        }
        await this.remove(id);
      }
    }
    return counts;
  }
}

/** The sidecar in `raw`, checked against the entry file `id` it sits beside. */
function checkedSidecar(id: string, raw: Buffer, file: string): Sidecar {
  const sidecar = decodeSidecar(raw, file);
  const problem = sidecarProblem(id, sidecar);
  if (problem) throw new CacheError(ErrorCode.DataLoss, `sidecar ${file} is unusable: ${problem}`);
  return sidecar;
}

/** True when the file's content and name were last changed before `ms` (false if it is gone). */
function olderThan(stats: Stats | undefined, ms: number): boolean {
  return !!stats && stats.mtimeMs < ms && stats.ctimeMs < ms;
}

export function isNotFound(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

async function fsyncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}
