/**
 * When the index snapshot is written, and which shard directories it vouches for (issue #16).
 * Owns: the schedule (every `intervalMs` in which entries came or went, and at close; never two at
 * once), the check of each shard directory against the index as the snapshot is written, and the
 * stamps last checked. Never: the file format (index-snapshot.ts), the index itself, the load.
 *
 * A snapshot vouches for a shard directory (records its stamp, so that the next start takes the
 * shard whole without listing it) only when, at one moment, the directory held exactly the data
 * file and sidecar of each entry the index held for that shard, nothing else, and had not changed
 * for 2 s (shard-stamps.ts), and the index's part of the shard did not change from the moment its
 * ids were taken until its records were written. That is checked by listing the directory, unless
 * neither the directory's stamp nor the index's part of the shard changed since the last check
 * that held (one `stat`). Listing at snapshot time rather than trusting the order of the agent's
 * own steps: the index lags the disk while an entry is being published (renamed into place, then
 * registered in Redis, then indexed) and leads it while one is removed (unindexed, then unlinked);
 * the listing sees either, whatever code path caused it.
 */
import * as path from 'node:path';
import type { Logger } from '@checkpoint-cache/logger';
import type { DiskStore } from './disk-store';
import {
  writeSnapshot,
  type SnapshotEntry,
  type SnapshotShard,
  type SnapshotWritten,
} from './index-snapshot';
import { sameStamp, shardStamp, verifiedShardStamp, type ShardStamp } from './shard-stamps';

export const SHARDS = 256;

/** What the schedule needs of the index (EntryIndex). */
export interface SnapshotSource {
  /** The index is complete (loaded). */
  readonly ready: boolean;
  /** Adds and removals so far. */
  readonly changeCount: number;
  /** Adds and removals so far of entries of `shard` (0-255, the first byte of the id). */
  shardChanges(shard: number): number;
  /** The ids of every entry, by shard. */
  idsByShard(): string[][];
  get(id: string): SnapshotEntry | undefined;
}

export class SnapshotSchedule {
  private changesSnapshotted = -1;
  private saving: Promise<SnapshotWritten | undefined> = Promise.resolve(undefined);
  private timer: NodeJS.Timeout | undefined;
  /** Per shard: the stamp of the last check that held, and the shard's change count then. */
  private readonly checked = new Map<number, { stamp: ShardStamp; changes: number }>();

  constructor(
    private readonly source: SnapshotSource,
    private readonly disk: DiskStore,
    private readonly logger: Logger,
  ) {}

  /**
   * Records that shard directory `shard` held exactly the index's entries of that shard under
   * `stamp` when the shard's change count was `changes` (the load took it whole from a snapshot).
   */
  noteChecked(shard: number, stamp: ShardStamp, changes: number): void {
    this.checked.set(shard, { stamp, changes });
  }

  /**
   * Writes the snapshot once the index is ready: always when `force` (shutdown), else only if
   * entries came or went since the last one. Resolves to what was written, undefined when nothing.
   */
  save(force: boolean): Promise<SnapshotWritten | undefined> {
    const run = async (): Promise<SnapshotWritten | undefined> => {
      const source = this.source;
      if (!source.ready || (!force && source.changeCount === this.changesSnapshotted)) {
        return undefined;
      }
      const changes = source.changeCount;
      const takenAtMs = this.disk.changesSettledBefore();
      const shards: SnapshotShard[] = source.idsByShard().map((ids, shard) => {
        const changesThen = source.shardChanges(shard);
        return {
          shard: shardName(shard),
          ids,
          vouch: () => this.vouch(shard, ids, changesThen),
        };
      });
      const written = await writeSnapshot(this.disk.root, takenAtMs, shards, (id) =>
        source.get(id),
      );
      this.changesSnapshotted = changes;
      return written;
    };
    this.saving = this.saving.catch(() => undefined).then(run);
    return this.saving;
  }

  /** Saves a snapshot every `intervalMs` in which entries came or went (0: never). */
  start(intervalMs: number): void {
    if (intervalMs <= 0) return;
    this.timer = setInterval(() => {
      const started = Date.now();
      this.save(false).then(
        (written) => {
          if (written !== undefined) {
            this.logger.debug('index snapshot saved', { ...written, ms: Date.now() - started });
          }
        },
        (error: unknown) => this.logger.warn('index snapshot not saved', { error }),
      );
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the periodic snapshots and waits for one being written. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.saving.catch(() => undefined);
  }

  /**
   * The stamp to record for `shard`, whose records (`ids`, taken when its change count was
   * `changes`) were just written; undefined when the snapshot cannot vouch for its directory.
   */
  private vouch(shard: number, ids: readonly string[], changes: number): ShardStamp | undefined {
    // Entries of the shard came or went since its ids were taken: its records may not be whole.
    if (this.source.shardChanges(shard) !== changes) return undefined;
    const dir = path.join(this.disk.entriesDir, shardName(shard));
    const last = this.checked.get(shard);
    if (last && last.changes === changes && sameStamp(shardStamp(dir), last.stamp)) {
      return last.stamp;
    }
    const stamp = verifiedShardStamp(dir, ids);
    if (stamp) this.checked.set(shard, { stamp, changes });
    else this.checked.delete(shard);
    return stamp;
  }
}

function shardName(shard: number): string {
  return shard.toString(16).padStart(2, '0');
}
