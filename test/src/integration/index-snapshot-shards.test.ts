/**
 * Whole shard directories from the index snapshot (shared/cache/src/shard-stamps.ts,
 * snapshot-schedule.ts, entry-scan.ts): a restart takes a shard directory whose stamp (mtime and
 * ctime) is the one the snapshot vouched for with one stat and no listing, and any other is listed.
 * Proved with real files in temp dirs: a file added, removed, renamed or replaced in a vouched
 * directory after the snapshot is never missed or taken stale, also when the directory's mtime
 * comes out as it was (a change in the same clock tick); a directory changed in the 2 s before the
 * snapshot is not vouched for (git's "racy clean" rule); files the index did not know when the
 * snapshot was written keep their directory from being vouched for; and a crash between a write
 * and the next snapshot loses nothing. A crash here is a cache left without close(): no snapshot.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { entryIdOf, NodeCache } from '@checkpoint-cache/cache';
import { MemoryMetadataStore } from '../helpers/memory-metadata-store';
import { putEntry, readEntryBytes } from '../helpers/node-cache';
import { recordingLogger, type LogRecord } from '../helpers/recording-logger';
import { makeTempDir, removeTempDir } from '../helpers/temp-dir';
import { waitUntil } from '../helpers/wait-until';

/** The snapshot vouches only for directories unchanged for 2 s (shard-stamps.ts). */
const SETTLE_MS = 2_000 + 100;

const data = (i: number): Buffer => Buffer.concat([Buffer.from(`entry ${i} `), randomBytes(5_000)]);

/** `count` keys whose entries live in shard directory `shard` (2 hex). */
function keysInShard(shard: string, prefix: string, count: number): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < count; i++) {
    const key = `hdfs://nn/ckpt/${prefix}/f-${i}`;
    if (entryIdOf(key).startsWith(shard)) keys.push(key);
  }
  return keys;
}

describe('index snapshot: whole shard directories', function () {
  this.timeout(60_000);
  let root: string;
  let store: MemoryMetadataStore;
  let records: LogRecord[];
  /** Caches opened by a test; "crashed" ones are closed only after it has checked the restart. */
  let open: NodeCache[];
  const X = '3a';
  const Y = 'c5';

  async function start(blockSize?: number): Promise<NodeCache> {
    records = [];
    const cache = await NodeCache.open({
      root,
      nodeId: 'shard-node',
      metadata: store,
      defaultTtlMs: 3_600_000,
      logger: recordingLogger(records),
      snapshotIntervalMs: 0,
      ...(blockSize ? { blockSize } : {}),
    });
    open.push(cache);
    await cache.whenIndexReady();
    return cache;
  }

  /** A clean stop: saves the snapshot. */
  async function stop(cache: NodeCache): Promise<void> {
    open.splice(open.indexOf(cache), 1);
    await cache.close();
  }

  const loadRecord = (): LogRecord => {
    const record = records.find((r) => r.message === 'cache index loaded');
    expect(record, 'the load logged its line').to.not.equal(undefined);
    return record!;
  };
  const shardDir = (shard: string): string => path.join(root, 'entries', shard);
  const fileOf = (key: string): string => {
    const id = entryIdOf(key);
    return path.join(shardDir(id.slice(0, 2)), id);
  };

  /** Waits until no shard directory has changed for 2 s, so a snapshot may vouch for each. */
  async function letShardsSettle(): Promise<void> {
    await waitUntil(
      async () => {
        const limit = Date.now() - SETTLE_MS;
        for (const shard of await fs.readdir(path.join(root, 'entries'))) {
          const s = await fs.stat(shardDir(shard));
          if (s.mtimeMs >= limit || s.ctimeMs >= limit) return false;
        }
        return true;
      },
      { timeoutMs: 10_000, intervalMs: 100, message: 'shard directories unchanged for 2 s' },
    );
  }

  /** Entries in X (4) and Y (1), settled, then a clean stop: X and Y vouched for. */
  async function vouchedSnapshot(): Promise<{
    x: string[];
    y: string;
    bytes: Map<string, Buffer>;
  }> {
    const cache = await start();
    const x = keysInShard(X, 'x', 4);
    const [y] = keysInShard(Y, 'y', 1);
    const bytes = new Map<string, Buffer>();
    for (const [i, key] of [...x, y!].entries()) {
      bytes.set(key, data(i));
      await putEntry(cache, key, bytes.get(key)!);
    }
    await letShardsSettle();
    await stop(cache);
    return { x, y: y!, bytes };
  }

  beforeEach(async function () {
    root = await makeTempDir('ckc-shards-');
    store = new MemoryMetadataStore();
    open = [];
  });
  afterEach(async function () {
    for (const cache of open.reverse()) await cache.close();
    await removeTempDir(root);
  });

  it('a restart after a settled clean stop lists no shard directory', async function () {
    const { bytes } = await vouchedSnapshot();
    const again = await start();
    expect(loadRecord()).to.include({
      entries: 5,
      fromSnapshot: 5,
      shardsListed: 0,
      shardsWhole: 2,
    });
    for (const [key, b] of bytes) expect(await readEntryBytes(again, key)).to.deep.equal(b);
  });

  it('a directory changed within 2 s of the snapshot is listed, and so is one changed right after it', async function () {
    const cache = await start();
    const [a, b, c] = keysInShard(X, 'racy', 3);
    await putEntry(cache, a!, data(1));
    // No settling: the snapshot is taken in the same clock tick (or second) as the write.
    await stop(cache);
    const again = await start();
    expect(loadRecord()).to.include({ entries: 1, shardsListed: 1, shardsWhole: 0 });
    // Written at once after the restart and then a crash: no snapshot after it.
    await putEntry(again, b!, data(2));
    await putEntry(again, c!, data(3));
    await stop(again); // its snapshot: X changed in the last 2 s, so not vouched for
    const third = await start();
    expect(loadRecord()).to.include({ entries: 3, shardsListed: 1, shardsWhole: 0 });
    await putEntry(third, keysInShard(X, 'racy-late', 1)[0]!, data(4));
    // Crash: `third` is not closed.
    await start();
    expect(loadRecord()).to.include({ entries: 4, shardsListed: 1 });
  });

  it('an entry written after the snapshot, then a crash: found, its directory listed', async function () {
    const { x, y, bytes } = await vouchedSnapshot();
    const later = await start();
    expect(loadRecord()).to.include({ shardsListed: 0 });
    const [added] = keysInShard(X, 'added', 1);
    await putEntry(later, added!, data(9));
    // Crash: `later` is not closed, the snapshot stays the one from before the write.
    const again = await start();
    expect(loadRecord()).to.include({ entries: 6, shardsListed: 1, shardsWhole: 1 });
    expect(await readEntryBytes(again, added!)).to.have.length(data(9).length);
    for (const key of [...x, y])
      expect(await readEntryBytes(again, key)).to.deep.equal(bytes.get(key));
  });

  it('files removed after the snapshot (by hand, or by a delete before a crash) stay removed', async function () {
    const { x, y } = await vouchedSnapshot();
    await fs.rm(fileOf(x[0]!) + '.meta');
    await fs.rm(fileOf(x[0]!));
    const later = await start();
    expect(loadRecord()).to.include({ entries: 4, shardsListed: 1, shardsWhole: 1 });
    expect(await later.delete(x[1]!)).to.equal(true);
    // Crash after the delete.
    const again = await start();
    expect(loadRecord()).to.include({ entries: 3, shardsListed: 1, shardsWhole: 1 });
    expect(again.entryIds().sort()).to.deep.equal([x[2]!, x[3]!, y].map(entryIdOf).sort());
  });

  it('files renamed in and out of a vouched directory after the snapshot are seen', async function () {
    const { x, y } = await vouchedSnapshot();
    // Out: a sidecar renamed to a name that is no entry file (its data is then swept).
    await fs.rename(fileOf(x[0]!) + '.meta', fileOf(x[0]!) + '.meta.bak');
    // In: an entry written by another cache, moved in as a publish does (data, then sidecar).
    const otherRoot = await makeTempDir('ckc-shards-other-');
    try {
      const other = await NodeCache.open({
        root: otherRoot,
        nodeId: 'other',
        metadata: new MemoryMetadataStore(),
        defaultTtlMs: 3_600_000,
        snapshotIntervalMs: 0,
      });
      const [moved] = keysInShard(X, 'moved', 1);
      await putEntry(other, moved!, data(7));
      await other.close();
      const id = entryIdOf(moved!);
      await fs.rename(path.join(otherRoot, 'entries', X, id), fileOf(moved!));
      await fs.rename(path.join(otherRoot, 'entries', X, id) + '.meta', fileOf(moved!) + '.meta');

      const again = await start();
      expect(loadRecord()).to.include({ entries: 5, shardsListed: 1, shardsWhole: 1 });
      expect(again.entryIds()).to.not.include(entryIdOf(x[0]!));
      expect(await readEntryBytes(again, moved!)).to.have.length(data(7).length);
      await fs.access(fileOf(x[0]!)).then(
        () => expect.fail('a data file without its sidecar stayed'),
        () => undefined,
      );
      expect(again.entryIds()).to.include(entryIdOf(y));
    } finally {
      await removeTempDir(otherRoot);
    }
  });

  it('a sidecar rewritten, an entry written again with other blocks: the new ones are taken', async function () {
    const { x, bytes } = await vouchedSnapshot();
    const later = await start(4096);
    await later.touch(x[0]!, { checkpointId: 7 }); // the sidecar is replaced (rename over it)
    expect(await later.delete(x[1]!)).to.equal(true);
    await putEntry(later, x[1]!, bytes.get(x[1]!)!); // other block size: other block CRC32Cs
    // Crash.
    const again = await start();
    expect(loadRecord()).to.include({ entries: 5, shardsListed: 1, shardsWhole: 1 });
    expect((await again.stat(x[0]!, { touch: false })).checkpointIds).to.deep.equal([1, 7]);
    expect(await readEntryBytes(again, x[1]!)).to.deep.equal(bytes.get(x[1]!));
    const lease = await again.lease(x[1]!);
    expect(lease.blockSize).to.equal(4096);
  });

  it('a change whose directory mtime comes out as recorded (the same tick) is still seen', async function () {
    const { x } = await vouchedSnapshot();
    const before = await fs.stat(shardDir(X), { bigint: true });
    await fs.rm(fileOf(x[0]!) + '.meta');
    await fs.rm(fileOf(x[0]!));
    // As if the removal had fallen in the tick of the recorded stamp (a coarse-time file system):
    // the mtime is set back to the nanosecond (GNU touch; Node's utimes keeps microseconds); the
    // ctime cannot be, no user call sets it.
    const ns = before.mtimeNs % 1_000_000_000n;
    const at = `@${before.mtimeNs / 1_000_000_000n}.${ns.toString().padStart(9, '0')}`;
    execFileSync('touch', ['-m', '-d', at, shardDir(X)]);
    expect((await fs.stat(shardDir(X), { bigint: true })).mtimeNs).to.equal(before.mtimeNs);
    const again = await start();
    expect(loadRecord()).to.include({ entries: 4, shardsListed: 1, shardsWhole: 1 });
    expect(again.entryIds()).to.not.include(entryIdOf(x[0]!));
  });

  it('files the index does not know when the snapshot is written keep their directory listed', async function () {
    const cache = await start();
    const [known] = keysInShard(X, 'known', 1);
    await putEntry(cache, known!, data(1));
    // Files of an entry the running cache has not indexed (as while a publish waits for its
    // registration), placed by another cache writing into the same root's shard directory.
    const [unindexed] = keysInShard(X, 'unindexed', 1);
    const otherRoot = await makeTempDir('ckc-shards-other-');
    try {
      const other = await NodeCache.open({
        root: otherRoot,
        nodeId: 'other',
        metadata: new MemoryMetadataStore(),
        defaultTtlMs: 3_600_000,
        snapshotIntervalMs: 0,
      });
      await putEntry(other, unindexed!, data(2));
      await other.close();
      const id = entryIdOf(unindexed!);
      await fs.copyFile(path.join(otherRoot, 'entries', X, id), fileOf(unindexed!));
      await fs.copyFile(
        path.join(otherRoot, 'entries', X, id) + '.meta',
        fileOf(unindexed!) + '.meta',
      );
    } finally {
      await removeTempDir(otherRoot);
    }
    await letShardsSettle();
    await stop(cache);
    const again = await start();
    expect(loadRecord()).to.include({
      entries: 2,
      fromSnapshot: 1,
      shardsListed: 1,
      shardsWhole: 0,
    });
    expect(await readEntryBytes(again, unindexed!)).to.have.length(data(2).length);
  });

  it('a restart from a vouched snapshot vouches again without changes, and not after one', async function () {
    await vouchedSnapshot();
    const second = await start();
    expect(loadRecord()).to.include({ shardsListed: 0, shardsWhole: 2 });
    await stop(second); // nothing changed: the load's stamps are vouched for again
    const third = await start();
    expect(loadRecord()).to.include({ shardsListed: 0, shardsWhole: 2 });
    await putEntry(third, keysInShard(Y, 'y-more', 1)[0]!, data(5));
    await stop(third); // Y changed just now: not vouched for; X still is
    await start();
    expect(loadRecord()).to.include({ entries: 6, shardsListed: 1, shardsWhole: 1 });
  });
});
