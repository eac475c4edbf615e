/**
 * Finding every entry on disk at start-up, from the index snapshot where it can vouch for the disk
 * and from the sidecars elsewhere (issue #16).
 * Owns: which shard directories are listed and which files are read, and the clean-up of what an
 * interrupted publish or removal left. Never: the index (its caller's `onEntry`), the snapshot's
 * file format (index-snapshot.ts), other file layout than DiskStore's.
 *
 * With a snapshot, per shard directory:
 * - its stamp equals the one the snapshot recorded for it (shard-stamps.ts: the snapshot vouched
 *   that the directory held exactly its records then, and nothing in it changed since): every
 *   record of the shard is taken, with one `stat` and no listing;
 * - else the directory is listed, and a record is taken only when both its files are listed and
 *   neither can have changed since the snapshot (the directory's times, or else the sidecar's own,
 *   are older than it); anything else is read from its sidecar, a record whose files are gone is
 *   dropped.
 * Data sizes are not checked on the snapshot's path: a read checks every block anyway.
 *
 * Sidecars are read and files stat'ed with synchronous calls, in slices of at most LOAD_SLICE_MS
 * with a yield to the event loop between them: a promise per file costs more than the read of a
 * small file from the page cache (about 1 ms per entry before, issue #16), and the slices keep
 * reads served while the index loads.
 */
import { promises as fs, readFileSync, statSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Logger } from '@checkpoint-cache/logger';
import {
  ID_PATTERN,
  SIDECAR_SUFFIX,
  checkedSidecar,
  type DiskStore,
  type LoadedEntry,
} from './disk-store';
import { SNAPSHOT_FILE, SnapshotReader, UnusableSnapshot } from './index-snapshot';
import { FILE_TIME_SLACK_MS, sameStamp, shardStamp, type ShardStamp } from './shard-stamps';

/** Longest stretch the index load keeps the event loop. */
const LOAD_SLICE_MS = 10;

/** Entries an index snapshot says were on disk at `takenAtMs` (see index-snapshot.ts). */
export interface KnownEntries {
  readonly takenAtMs: number;
  /** Records in the snapshot. */
  readonly count: number;
  /** The next known entry of `shard` (2 hex), in any order; undefined when there are no more. */
  nextOfShard(shard: string): (LoadedEntry & { lastAccessMs: number }) | undefined;
  /** The stamp under which the snapshot vouches for the whole directory of `shard`, if any. */
  stampOf(shard: string): ShardStamp | undefined;
  /** False once the snapshot could not be read on (a bad record): nothing more comes from it. */
  readonly intact: boolean;
}

/**
 * The index snapshot of `root` as KnownEntries, or undefined (none, or unusable: said once, at
 * warn). A record that cannot be read ends what is taken from it (said once): the rest is found
 * by listing and reading sidecars.
 */
export function openSnapshot(
  root: string,
  logger: Logger,
): (KnownEntries & { close(): void }) | undefined {
  const file = path.join(root, SNAPSHOT_FILE);
  let snapshot: SnapshotReader;
  try {
    snapshot = new SnapshotReader(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    const why = error instanceof UnusableSnapshot ? error.message : String(error);
    logger.warn('index snapshot ignored; every sidecar is read instead', { file, why });
    return undefined;
  }
  let reading = true;
  return {
    takenAtMs: snapshot.takenAtMs,
    count: snapshot.count,
    get intact() {
      return reading;
    },
    stampOf: (shard) => (reading ? snapshot.stampOf(shard) : undefined),
    nextOfShard: (shard) => {
      if (!reading) return undefined;
      try {
        return snapshot.nextOfShard(shard);
      } catch (error) {
        // Its CRC32C held, so a bad record is a writer's bug: what is left is read the slow way.
        reading = false;
        logger.warn('index snapshot ignored from here on; the sidecars are read', { error });
        return undefined;
      }
    },
    close: () => snapshot.close(),
  };
}

export interface LoadCounts {
  loaded: number;
  /** Of `loaded`, taken from the snapshot without reading their sidecars. */
  known: number;
  /** Shard directories listed (the others were taken whole from the snapshot). */
  listedShards: number;
  /** Shard directories taken whole from the snapshot, with their stamps. */
  wholeShards: { shard: string; stamp: ShardStamp }[];
  problems: LoadProblem[];
}

export interface LoadProblem {
  file: string;
  error: unknown;
}

/**
 * Finds every entry of `disk`, handing each good one to `onEntry` (which says whether it took it)
 * as soon as it is found. Data files without a sidecar (an interrupted publish or removal) are
 * deleted; unreadable sidecars are deleted with their data and reported.
 */
export async function scanEntries(
  disk: DiskStore,
  onEntry: (entry: LoadedEntry & { lastAccessMs?: number }) => boolean,
  known?: KnownEntries,
): Promise<LoadCounts> {
  const counts: LoadCounts = {
    loaded: 0,
    known: 0,
    listedShards: 0,
    wholeShards: [],
    problems: [],
  };
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
  const shards = (await fs.readdir(disk.entriesDir)).sort();
  for (const shard of shards) {
    const dir = path.join(disk.entriesDir, shard);
    const recorded = known?.stampOf(shard);
    if (known && recorded && sameStamp(shardStamp(dir), recorded)) {
      for (let entry = known.nextOfShard(shard); entry; entry = known.nextOfShard(shard)) {
        const paused = pause();
        if (paused) await paused;
        if (onEntry(entry)) {
          counts.loaded++;
          counts.known++;
        }
      }
      if (known.intact) {
        counts.wholeShards.push({ shard, stamp: recorded });
        continue;
      }
      // The snapshot broke off inside this shard: the rest of it is found by listing it.
    }
    counts.listedShards++;
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
        if (onEntry(entry)) {
          counts.loaded++;
          counts.known++;
        }
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
          if (onEntry({ id, sidecar })) counts.loaded++;
          continue;
        }
        counts.problems.push({
          file,
          error: new Error(`data is ${size} bytes, sidecar says ${sidecar.size}`),
        });
      } catch (error) {
        counts.problems.push({ file, error });
      }
      await disk.remove(id);
    }
  }
  return counts;
}

/** True when the file's content and name were last changed before `ms` (false if it is gone). */
function olderThan(stats: Stats | undefined, ms: number): boolean {
  return !!stats && stats.mtimeMs < ms && stats.ctimeMs < ms;
}
