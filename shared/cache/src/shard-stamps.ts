/**
 * Shard directory stamps: what lets a restart take a whole shard directory
 * (`<root>/entries/<2 hex>`) from the index snapshot with one `stat` and no listing (issue #16).
 * Owns: reading, comparing and verifying a directory's stamp. Never: what the index holds, when a
 * snapshot is written (SnapshotSchedule), the load itself (entry-scan.ts).
 *
 * A directory's mtime and ctime change whenever a name in it is created, removed or renamed: every
 * publish, sidecar rewrite and removal of an entry does one of those (the agent never changes an
 * entry's file in place). So a directory whose stamp (mtime and ctime, in ns) equals the one
 * recorded when a snapshot checked it against the index holds exactly the files it held then. The
 * ctime is compared too because no user call can set it back (`touch -d`, a restore that keeps
 * times, a copy with `cp -a`: each gives the directory a new ctime).
 *
 * The "racy clean" rule of git's index: file times come from a coarse clock, so a change made in
 * the same tick as the recorded stamp would leave the stamp as it was and go unseen. A stamp is
 * therefore only vouched for when it is older than the moment it was read by FILE_TIME_SLACK_MS:
 * every change after that moment gets a newer stamp. 2 s covers the coarsest file times a cache
 * directory may have (whole seconds on ext3 and HFS+, 2 s on FAT and exFAT) and Linux's coarse
 * clock tick (1-10 ms); a directory changed in the 2 s before a snapshot is listed at the next
 * start instead. Not covered: a network file system whose server clock runs more than 2 s behind
 * this node's (the cache directory is meant to be a local disk).
 */
import { readdirSync, statSync } from 'node:fs';
import { SIDECAR_SUFFIX } from './disk-store';

/**
 * A file time this close to a snapshot's time or later counts as changed after it (see the header
 * for why 2 s). Also the margin entry-scan.ts gives single sidecars' times.
 */
export const FILE_TIME_SLACK_MS = 2_000;

export interface ShardStamp {
  readonly mtimeNs: bigint;
  readonly ctimeNs: bigint;
}

/** The directory's stamp (one stat), or undefined when it is not there or not a directory. */
export function shardStamp(dir: string): ShardStamp | undefined {
  const stats = statSync(dir, { bigint: true, throwIfNoEntry: false });
  return stats?.isDirectory() ? { mtimeNs: stats.mtimeNs, ctimeNs: stats.ctimeNs } : undefined;
}

export function sameStamp(a: ShardStamp | undefined, b: ShardStamp | undefined): boolean {
  return !!a && !!b && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

/**
 * The stamp of `dir` if the directory holds exactly the data file and the sidecar of each of
 * `ids` and nothing else, did not change while it was listed, and had not changed for
 * FILE_TIME_SLACK_MS before it was looked at; else undefined. Synchronous, so that the caller's
 * view of the index cannot change meanwhile.
 */
export function verifiedShardStamp(dir: string, ids: readonly string[]): ShardStamp | undefined {
  // Read before the stat: every change from now on gets a stamp at or after `settled`.
  const settled = BigInt(Date.now() - FILE_TIME_SLACK_MS) * 1_000_000n;
  const before = shardStamp(dir);
  if (!before || before.mtimeNs >= settled || before.ctimeNs >= settled) return undefined;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  if (names.length !== 2 * ids.length) return undefined;
  const listed = new Set(names);
  for (const id of ids) {
    if (!listed.has(id) || !listed.has(id + SIDECAR_SUFFIX)) return undefined;
  }
  return sameStamp(before, shardStamp(dir)) ? before : undefined;
}
